"""A9: after ``crmsync privacy erase`` no copy of the address is left anywhere crmsync keeps one.

A canary address writes to a support mailbox on a real Dovecot: a case is opened from its
mail, a contact created, an acknowledgement sent through a real SMTP sink, and the API is
asked about it (rate limits counted in a real Redis). Then it is erased and the mailbox
synced again. The canary's random token must then be absent from the database's bytes
(the SQLite files as a backup would copy them, free space and write-ahead log included,
also while the API still holds the database open; ``pg_dump``), from every
log line the service wrote at the default level and with ``-v`` (the most the CLI logs),
and from every Redis key and value; the case survives as a redacted stub, the next sync
does not bring the address back, and the erasure is audited without it.

The commands that see the canary run as real processes, so their logging is the
product's own (``logging.basicConfig`` and the redaction filter of ``crmsync.main``).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
import redis as redis_client
from sqlalchemy import select

from crmsync.crm.privacy import ErasureRecord
from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import BASE
from tests.servers.dovecot import DovecotServer
from tests.servers.redis import RedisServer
from tests.servers.served import served
from tests.support import sinks
from tests.support.sinks import SmtpSink

#: a Redis database of its own: the server is shared by the session
REDIS_DB = 9
SUPPORT = "support@northwind.example"


smtp = sinks.smtp


class Service:
    """crmsync run as processes against one database, every line they write kept."""

    def __init__(self, cli: Cli, verbosity: list[str], env: dict[str, str]) -> None:
        self.env = {**os.environ, **cli.env, **env}
        self.verbosity = verbosity
        self.output: list[str] = []

    def __call__(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "crmsync", *self.verbosity, *args],
                              env=self.env, capture_output=True, text=True, timeout=120)
        self.output.append(done.stdout + done.stderr)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr


def _mail(n: int, sender: str, subject: str, body: str) -> bytes:
    """A mail from ``sender``, whose display name is its local part (the canary's token)."""
    message = EmailMessage()
    message["From"] = f"{sender.partition('@')[0]} Canary <{sender}>"
    message["To"] = f"Northwind Support <{SUPPORT}>"
    message["Subject"] = subject
    message["Date"] = format_datetime(BASE + timedelta(minutes=n))
    message["Message-ID"] = f"<erase-{n}-{secrets.token_hex(4)}@customer.example>"
    message.set_content(body)
    return bytes(message)


def _database_bytes(database_url: str, request: pytest.FixtureRequest) -> bytes:
    """Every byte a backup would hold: the SQLite files as they are, or ``pg_dump``."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        files = [path, *(path.with_name(path.name + s) for s in ("-wal", "-journal"))]
        return b"".join(f.read_bytes() for f in files if f.exists())
    bindir = request.getfixturevalue("postgres").bindir
    libpq_url = database_url.replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run([str(bindir / "pg_dump"), "--dbname", libpq_url], check=True,
                          capture_output=True).stdout


def _redis_bytes(url: str) -> bytes:
    """Every key and every value (serialized, whatever its type) of one Redis database."""
    client = redis_client.Redis.from_url(url)
    try:
        return b"\n".join(key + b"=" + (client.dump(key) or b"")
                          for key in client.scan_iter(count=1000))
    finally:
        client.close()


def _cases(cli: Cli) -> list[dict]:
    return [json.loads(line) for line in cli("export", "cases").output.splitlines()]


def _assert_absent(needle: bytes, blob: bytes, where: str) -> None:
    """Fail showing each place ``needle`` occurs in ``blob``, with some context."""
    found, at = [], blob.find(needle)
    while at >= 0:
        found.append(blob[max(0, at - 120):at + len(needle) + 40].decode(errors="replace"))
        at = blob.find(needle, at + 1)
    assert not found, f"{len(found)} traces in {where}:\n" + "\n---\n".join(found)


def _ask_the_api(base: str, key: str, canary: str) -> None:
    for path in (f"/api/v1/lookup?address={canary}", f"/api/v1/search?q={canary}"):
        request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200


@pytest.mark.parametrize("verbosity", [[], ["-v"]], ids=["default-log", "verbose-log"])
def test_erasure_leaves_no_trace_and_keeps_the_address_out(
    cli: Cli, database_url: str, dovecot: DovecotServer, smtp: SmtpSink, redis: RedisServer,
    request: pytest.FixtureRequest, tmp_path: Path, verbosity: list[str]
) -> None:
    # One customer's data from the first mail to erasure and the sync after it.
    token = f"canary-{secrets.token_hex(8)}"
    canary = f"{token}@customer-{secrets.token_hex(3)}.example"
    needle = token.encode()
    load_sample_crm(cli)
    cli("cases", "settings", "create_contacts", "on")
    user = new_user(dovecot)
    dovecot.create_folder(user, "Sent")
    smtp.handler.passwords[user] = "pw-" + user
    name = add_mailbox(cli, dovecot, user, None, "--purpose", "support", "--smtp-host",
                       smtp.host, "--smtp-port", str(smtp.port), "--smtp-security", "starttls")
    redis_url = redis.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis_client.Redis.from_url(redis_url).flushdb()
    service = Service(cli, verbosity, {"SSL_CERT_FILE": str(smtp.ca_file),
                                       "CRMSYNC_RATE_LIMIT_STORAGE_URL": redis_url})
    key = cli("apikey", "create", "maria.lopez@northwind.example").output.strip()
    log = tmp_path / "serve.log"

    # The canary's mail opens a case (its address in the subject and the text), creates
    # its contact and is acknowledged; the API is asked about it.
    dovecot.append(user, "INBOX", _mail(1, canary, f"Please write to {canary} instead",
                                        f"Hello,\n\nmy new address is {canary}.\n"))
    with served(service.env, *verbosity, log=log) as base:
        service("sync", "--mailbox", name, "--once")
        service("cases", "deliver")
        _ask_the_api(base, key, canary)
        [case] = _cases(cli)
        assert token in case["subject"] and token in case["description"]
        assert smtp.handler.to(canary), "the acknowledgement went out"
        assert needle in _database_bytes(database_url, request), "the dump is real"
        activities = len(cli.export_activities())

        out = service("privacy", "erase", canary)
        assert "1 contacts" in out and "cases_redacted" in out

        # A new mail and a reply to the case: the suppression list keeps both out.
        dovecot.append(user, "INBOX", _mail(2, canary, "Me again", "Any news?\n"))
        dovecot.append(user, "INBOX", _mail(3, canary, f"Re: [{case['number']}] thanks",
                                            "Thanks.\n"))
        out = service("sync", "--mailbox", name, "--once")
        assert "skipped: a participant was erased or opted out" in out
        service("cases", "deliver")
        _ask_the_api(base, key, canary)
        _assert_absent(needle, _database_bytes(database_url, request), "the database in use")

    # The case is a redacted stub: its number and history stay, the address does not;
    # the later mails opened nothing and were not stored.
    [stub] = _cases(cli)
    assert stub["number"] == case["number"] and stub["created_at"] == case["created_at"]
    assert stub["subject"] == "Please write to [erased] instead"
    assert stub["description"] == "Hello,\n\nmy new address is [erased]."
    assert stub["contact_external_id"] is None
    assert stub["activity_ids"] == case["activity_ids"]
    assert len(cli.export_activities()) == activities
    assert len(smtp.handler.to(canary)) == 1, "nothing more was sent to the erased address"

    # The erasure is audited, by the address's hash only.
    audit = cli("audit", "list", "--action", "privacy.erase").output
    assert "privacy.erase" in audit and "sha256:" in audit
    with cli.session() as session:
        [record] = session.scalars(select(ErasureRecord)).all()
    assert record.removed["cases_redacted"] == 1 and record.removed["contacts"] == 1

    # No copy left: the database's bytes, every log line, every Redis key and value.
    _assert_absent(needle, _database_bytes(database_url, request), "the database")
    logs = "\n".join(service.output) + log.read_text()
    assert "serving on" in logs and (" INFO " in logs) == bool(verbosity), "the logs are real"
    _assert_absent(needle, logs.encode(), "the logs")
    stored = _redis_bytes(redis_url)
    assert b"/crmsync/caller:" in stored, "the rate limits were counted in Redis"
    _assert_absent(needle, stored, "Redis")


def test_an_acknowledgement_not_yet_sent_is_never_sent_after_erasure(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # The SMTP server refuses the first attempt (it does not know the mailbox's login
    # yet), so the acknowledgement is still pending when the sender is erased: the
    # outbox keeps the row as suppressed, and nothing reaches the erased address.
    canary = f"canary-{secrets.token_hex(8)}@customer.example"
    load_sample_crm(cli)
    user = new_user(dovecot)
    cli.env["SSL_CERT_FILE"] = str(smtp.ca_file)
    name = add_mailbox(cli, dovecot, user, None, "--purpose", "support", "--smtp-host",
                       smtp.host, "--smtp-port", str(smtp.port), "--smtp-security", "starttls")
    dovecot.append(user, "INBOX", _mail(1, canary, "Help", "Hello.\n"))
    cli("sync", "--mailbox", name, "--once")
    [row] = _outbox(cli)
    assert row["status"] == "pending" and row["to"] == canary
    assert "1 outbox_suppressed" in cli("privacy", "erase", canary).output
    smtp.handler.passwords[user] = "pw-" + user
    cli("cases", "deliver")
    assert smtp.handler.to(canary) == []
    [row] = _outbox(cli)
    assert row["status"] == "suppressed" and canary not in json.dumps(row)


def _outbox(cli: Cli) -> list[dict]:
    return [json.loads(line) for line in cli("cases", "outbox").output.splitlines()]
