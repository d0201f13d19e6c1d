"""RELIABILITY F2, scaled down: PostgreSQL and Redis restarted at random moments while
workers sync mailboxes and open cases.

Each restart is a crash (PostgreSQL ``-m immediate``, Redis SIGKILL with its
append-only file, as a broker holding tasks is run), so workers lose their connections
mid-page, mid-acknowledgement and mid-ack of their task. What a user would notice is
checked: every mailbox finally captured (no task lost), every message stored once,
one case and one acknowledgement (counted at the SMTP sink) per customer mail, and no
lease left held.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crmsync.crm.models import Activity, ActivitySource, Mailbox, QuarantinedItem
from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import ANA, TOM, make_mail
from tests.engine.test_crash_resume import _server_truth
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.support import sinks
from tests.support.helpers import mail as support_mail
from tests.support.sinks import SmtpSink
from tests.workers.workers import queued, wait_for, workers

ROUNDS = 6  # PostgreSQL and Redis restarted 3 times each, in a random order
MAILS_EACH = 24
SUPPORT_MAILS_EACH = 3


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A cluster of this test's own: restarting the session's would break other tests."""
    server = PostgresServer(durable_commits=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer(persistent=True)
    server.start()
    yield server
    server.stop()


smtp = sinks.smtp


def _customer(n: int) -> tuple[str, str]:
    return (f"Customer {n}", f"customer{n}@client{n}.example")


class Chaos:
    """Adds mailboxes round after round (each queued at once) and, between rounds,
    restarts PostgreSQL or Redis: every sync runs into restarts."""

    def __init__(self, cli: Cli, dovecot: DovecotServer, smtp: SmtpSink,
                 servers: tuple[PostgresServer, RedisServer]) -> None:
        self.cli, self.dovecot, self.smtp = cli, dovecot, smtp
        self.postgres, self.redis = servers
        self.users: list[str] = []
        self.support_users: list[str] = []
        self.restarts: Counter[str] = Counter()
        self.random = random.Random(17)
        self.errors: list[BaseException] = []

    def add_personal(self, i: int) -> None:
        user = new_user(self.dovecot)
        self.dovecot.append_many(user, "INBOX", [
            make_mail(n, sender=TOM if n % 2 else ANA) for n in range(i * 8, i * 8 + MAILS_EACH)])
        add_mailbox(self.cli, self.dovecot, user)
        self.users.append(user)

    def add_support(self, i: int) -> None:
        user = new_user(self.dovecot)
        self.smtp.handler.passwords[user] = "pw-" + user
        for k in range(SUPPORT_MAILS_EACH):
            n = i * SUPPORT_MAILS_EACH + k
            self.dovecot.append(user, "INBOX", support_mail(
                n, sender=_customer(n), subject=f"Order {n} arrived broken"))
        add_mailbox(self.cli, self.dovecot, user, None, "--purpose", "support",
                    "--smtp-host", self.smtp.host, "--smtp-port", str(self.smtp.port),
                    "--smtp-security", "starttls")
        self.support_users.append(user)

    def run(self) -> None:
        order = ["postgres", "redis"] * (ROUNDS // 2)
        self.random.shuffle(order)
        try:
            for i, server in enumerate(order):
                self.add_personal(i)
                self.add_support(i)
                time.sleep(self.random.uniform(0.3, 1.5))
                down = self.random.uniform(0.0, 1.0)
                (self.postgres if server == "postgres" else self.redis).restart(down)
                self.restarts[server] += 1
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.errors.append(exc)


def _progress(cli: Cli, broker: RedisServer) -> str:
    """What each mailbox holds and what the broker still has, for a failure's message."""
    with cli.session() as session:
        rows = session.execute(select(Mailbox.name, Mailbox.status, Mailbox.lease_owner,
                                      func.count(ActivitySource.id))
                               .outerjoin(ActivitySource).group_by(Mailbox.id)).all()
    return f"queued {queued(broker.url)}; mailboxes {[tuple(row) for row in rows]}"


def test_restarts_of_postgresql_and_redis_lose_nothing_and_double_nothing(
        own_postgres: PostgresServer, own_redis: RedisServer, dovecot: DovecotServer,
        smtp: SmtpSink, tmp_path: Path) -> None:
    url = own_postgres.create_database(f"f2_{os.getpid()}")
    cli = Cli(url, env={"CRMSYNC_BROKER_URL": own_redis.url,
                        "SSL_CERT_FILE": str(smtp.ca_file)})
    cli("db", "upgrade")
    load_sample_crm(cli)
    env = {"CRMSYNC_SYNC_BATCH_SIZE": "1", "CRMSYNC_FETCH_PROCESS_MIN_MESSAGES": "0",
           "CRMSYNC_BROKER_VISIBILITY_SECONDS": "8"}
    chaos = Chaos(cli, dovecot, smtp, (own_postgres, own_redis))
    started = time.monotonic()
    with workers(cli, 2, tmp_path, concurrency=2, env=env):
        thread = threading.Thread(target=chaos.run, daemon=True)
        thread.start()
        thread.join(60)
        assert not chaos.errors, chaos.errors
        chaos_ended = time.monotonic()
        expected = {(user, item): mid for user in chaos.users + chaos.support_users
                    for item, mid in _server_truth(dovecot, user).items()}

        def captured() -> int:
            with cli.session() as session:
                return session.scalar(select(func.count()).select_from(ActivitySource))

        def settled() -> bool:
            try:
                return captured() == len(expected) and queued(own_redis.url) == 0
            except Exception:  # noqa: BLE001 - a server still starting up: ask again
                return False
        try:
            wait_for(settled, 45, "every mailbox captured and the queue drained")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {_progress(cli, own_redis)}") from None
        customers = [_customer(n)[1] for n in range(ROUNDS * SUPPORT_MAILS_EACH)]
        try:
            wait_for(lambda: all(smtp.handler.to(c) for c in customers), 20,
                     "an acknowledgement to every customer")
        except AssertionError as exc:
            outbox = Counter((row["kind"], row["status"]) for row in (
                json.loads(line) for line in cli("cases", "outbox").output.splitlines()))
            raise AssertionError(f"{exc}: outbox {dict(outbox)}") from None
        time.sleep(1)  # a late second acknowledgement would have arrived by now
    elapsed = time.monotonic() - started

    with cli.session() as session:
        stored = session.execute(select(Mailbox.name, ActivitySource.item_id,
                                        Activity.internet_message_id)
                                 .join(ActivitySource, ActivitySource.mailbox_id == Mailbox.id)
                                 .join(Activity)).all()
        activity_ids = session.scalars(select(Activity.internet_message_id)).all()
        leases = session.execute(select(Mailbox.name, Mailbox.lease_owner)
                                 .where(Mailbox.lease_owner.is_not(None))).all()
        quarantined = session.execute(select(QuarantinedItem.reason)).all()
    cases = [json.loads(line)
             for line in cli("export", "cases").output.splitlines() if line.strip()]
    # the exactly-once oracle: the server's copies, each stored once, each mail once
    assert quarantined == []
    assert {(name, item): mid for name, item, mid in stored} == expected
    assert len(stored) == len(expected)
    assert len(activity_ids) == len(set(activity_ids)) == len(set(expected.values()))
    # one case per customer mail, numbers unique; one acknowledgement each at the sink
    assert len(cases) == len(customers)
    assert len({case["number"] for case in cases}) == len(cases)
    sent = Counter((str(m["To"]), str(m["Subject"])) for m in smtp.handler.messages)
    assert {mail: n for mail, n in sent.items() if n > 1} == {}
    assert all(len(smtp.handler.to(c)) == 1 for c in customers)
    assert leases == []
    assert chaos.restarts == {"postgres": ROUNDS // 2, "redis": ROUNDS // 2}
    print(f"\nF2: {len(chaos.users)} + {len(chaos.support_users)} mailboxes, "
          f"{len(expected)} copies, restarts {dict(chaos.restarts)}; settled "
          f"{time.monotonic() - chaos_ended:.1f} s after the last restart, {elapsed:.1f} s in all")
