"""Who decides "sync this mailbox soon": a new mailbox does not wait for the next round,
and with a broker the scheduler queues a round's syncs spread over time."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from crmsync.crm.models import Mailbox
from crmsync.sync_service.triggers import scheduler as scheduler_module
from crmsync.sync_service.triggers.scheduler import Scheduler
from tests.conftest import Cli, load_sample_crm, make_services
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import make_mail
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.workers.workers import broker_url, flush, queued, wait_for


def test_serve_syncs_a_mailbox_added_from_the_shell_without_waiting_a_round(
        sqlite_url: str, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # One process, an hour between rounds: `crmsync mailbox add` in another process is
    # noticed by serve's scheduler at its next look, and synced then.
    monkeypatch.setattr(scheduler_module, "WATCH_SECONDS", 0.3)
    services = make_services(sqlite_url, POLL_SECONDS=3600, IMAP_PUSH=False)
    cli = Cli(sqlite_url)
    load_sample_crm(cli)
    user = new_user(dovecot)
    dovecot.append(user, "INBOX", make_mail(1))
    scheduler = Scheduler(services)
    scheduler.start()
    try:
        time.sleep(0.5)  # its first round found nothing to sync
        name = add_mailbox(cli, dovecot, user)
        with services.sessions() as session:
            def synced() -> bool:
                done = session.scalar(select(Mailbox.last_sync_at).where(Mailbox.name == name))
                session.rollback()
                return done is not None
            wait_for(synced, 15, "the new mailbox synced before the next round")
    finally:
        scheduler.stop()
        services.dispose()


def test_with_a_broker_a_round_is_queued_spread_over_time(
        postgres: PostgresServer, redis: RedisServer, dovecot: DovecotServer) -> None:
    # serve with a broker syncs nothing itself: each mailbox's sync is queued once per
    # round, at random instants over the first half of it, not all in the same second.
    broker = broker_url(redis)
    url = postgres.create_database(f"w_round_{time.monotonic_ns()}")
    services = make_services(url, BROKER_URL=broker, POLL_SECONDS=4, IMAP_PUSH=False)
    cli = Cli(url)  # without the broker: adding queues nothing
    load_sample_crm(cli)
    for _ in range(8):
        add_mailbox(cli, dovecot, new_user(dovecot))
    flush(broker)
    seen: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            seen.append(queued(broker))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        Scheduler(services).poll_once()
        took = time.monotonic() - started
        with services.sessions() as session:
            synced = session.scalar(select(Mailbox.name).where(
                Mailbox.last_sync_at.is_not(None)).limit(1))
    finally:
        done.set()
        sampler.join()
        services.dispose()
    assert synced is None  # serve synced nothing itself
    assert queued(broker) == 8
    assert took < 4
    assert len(set(seen)) >= 3, f"queued in bursts: {seen}"
