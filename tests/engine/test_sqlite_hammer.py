"""RELIABILITY L7, scaled down: SQLite (the default) under the API writer and two syncs.

For :data:`SECONDS`, ``crmsync serve`` takes new contacts and tracks mail through its
API while two ``crmsync sync --once`` processes keep syncing mailboxes that share
messages, with new mail arriving all the time. Every one of them writes the same file.
What a user would notice is checked: no API call fails (no 5xx, no "database is
locked"), no sync run fails or reports a lock, nothing is quarantined, and everything
sent and every mail delivered is stored once.

Why it holds (the PRAGMAs are checked in tests/crm/test_sqlite_settings.py): WAL lets
readers go on beside the one writer; ``busy_timeout`` (30 s) makes a writer wait for
the lock instead of failing; the driver begins a transaction at its first write, so a
transaction never reads a snapshot it must then upgrade (the one place that reads
first, the item-by-item replay, begins ``IMMEDIATE``). With a 1 ms busy timeout this
test fails with 500s from the API.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from sqlalchemy import func, select

from crmsync.crm.models import Activity, ActivitySource, Contact, QuarantinedItem
from tests.conftest import ROOT, Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import ANA, TOM, make_mail
from tests.servers.dovecot import DovecotServer
from tests.servers.served import served

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SECONDS = 10
MAILBOXES = 6
SYNC_PROCESSES = 2


def _sync_loop(cli: Cli, stop: threading.Event, outputs: list[tuple[int, str]]) -> None:
    """Run ``crmsync sync --once`` over every mailbox, again and again, until ``stop``."""
    env = {**os.environ, **cli.env, "CRMSYNC_SYNC_BATCH_SIZE": "20"}
    while not stop.is_set():
        run = subprocess.run([sys.executable, "-m", "crmsync", "sync", "--once"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
        outputs.append((run.returncode, run.stdout + run.stderr))


def _api_writer(base: str, key: str, stop: threading.Event, answers: Counter[int],
                failures: list[str]) -> None:
    """Create contacts through the API as fast as it answers, until ``stop``."""
    n = 0
    while not stop.is_set():
        n += 1
        body = json.dumps({"first_name": "Load", "last_name": f"Tester {n}",
                           "email": f"load{n}@hammer.example"}).encode()
        request = urllib.request.Request(
            f"{base}/api/v1/contacts", data=body, method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answers[response.status] += 1
        except urllib.error.HTTPError as exc:
            answers[exc.code] += 1
            failures.append(f"{exc.code}: {exc.read().decode(errors='replace')[:300]}")


def _deliver(dovecot: DovecotServer, users: list[str], stop: threading.Event,
             delivered: set[tuple[str, str]]) -> None:
    """New mail all the time, much of it to several mailboxes at once."""
    rng = random.Random(7)
    n = 1000
    while not stop.wait(0.05):
        n += 1
        for user in rng.sample(users, rng.randint(1, 3)):
            dovecot.append(user, "INBOX", make_mail(n, sender=TOM if n % 2 else ANA))
            delivered.add((user, f"<m{n}@test.example>"))


def test_api_writer_and_two_syncs_never_see_database_is_locked(
        cli: Cli, dovecot: DovecotServer) -> None:
    load_sample_crm(cli)
    key = cli("apikey", "create", "maria.lopez@northwind.example").output.strip()
    users = [new_user(dovecot) for _ in range(MAILBOXES)]
    delivered: set[tuple[str, str]] = set()
    for i, user in enumerate(users):
        numbers = range(i * 20, i * 20 + 60)  # neighbours share 40 of their 60
        dovecot.append_many(user, "INBOX", [make_mail(n, sender=TOM if n % 2 else ANA)
                                            for n in numbers])
        delivered |= {(user, f"<m{n}@test.example>") for n in numbers}
        add_mailbox(cli, dovecot, user)

    stop = threading.Event()
    answers: Counter[int] = Counter()
    failures: list[str] = []
    outputs: list[tuple[int, str]] = []
    # the hammer is one caller writing as fast as it can: above the per-caller limit
    unlimited = {"CRMSYNC_RATE_LIMIT_PER_USER": "100000/minute",
                 "CRMSYNC_RATE_LIMIT_PER_IP": "100000/minute"}
    with served({**cli.env, **unlimited}) as base:
        threads = [threading.Thread(target=_api_writer, args=(base, key, stop, answers,
                                                              failures)),
                   threading.Thread(target=_deliver, args=(dovecot, users, stop, delivered)),
                   *(threading.Thread(target=_sync_loop, args=(cli, stop, outputs))
                     for _ in range(SYNC_PROCESSES))]
        for thread in threads:
            thread.start()
        time.sleep(SECONDS)
        stop.set()
        for thread in threads:
            thread.join(150)
    # one last run stores what arrived after the others passed by
    final = cli("sync", "--once").output

    assert failures == [] and set(answers) == {201}, (answers, failures[:3])
    assert answers[201] > 50  # the writer really wrote all along
    assert len(outputs) >= 2 * SYNC_PROCESSES
    for code, output in outputs:
        assert code == 0, output
        assert "locked" not in output.lower(), output
    assert "locked" not in final.lower()
    with cli.session() as session:
        quarantined = session.scalars(select(QuarantinedItem.reason)).all()
        sources = set(session.execute(
            select(ActivitySource.item_id.is_not(None), Activity.internet_message_id)
            .join(Activity)).all())
        stored = session.execute(select(func.count(ActivitySource.id))).scalar_one()
        contacts = session.scalar(select(func.count(Contact.id))
                                  .where(Contact.last_name.like("Tester %")))
    assert quarantined == []
    assert contacts == answers[201]
    assert stored == len(delivered)  # every copy stored, once
    assert {mid for _, mid in sources} == {mid for _, mid in delivered}
    listed = [json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines()]
    assert {(row["status"], row["last_error"]) for row in listed} == {("ok", None)}
