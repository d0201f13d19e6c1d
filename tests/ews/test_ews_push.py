"""Exchange push (`crmsync serve`'s watcher): streaming notifications bring new mail into the
CRM within seconds, against the EWS double driven by the real exchangelib."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from crmsync.sync_service.startup import build_services
from crmsync.sync_service.triggers.imap_idle import ImapPush
from tests.conftest import Cli, load_sample_crm
from tests.engine.test_imap_push import push_of, wait_for
from tests.ews.helpers import add_ews_mailbox, mail_ids, mime, sync
from tests.fakes.ews_fixtures import unique_address
from tests.fakes.ews_server import EwsDouble

#: What these tests hold does not depend on the database (the engine's behaviour on
#: PostgreSQL is covered by test_ews_mail.py and the IMAP and Graph suites): SQLite only,
#: to keep the suite's time.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: the watcher's quiet wait: its safety-net sync comes this late, so an arrival well
#: before was pushed (stopping the watcher also waits out one such wait)
QUIET_WAIT = 12
#: what "within a few seconds" means here (a deadline on a shared machine, not a speed check)
PUSHED = 6.0


@contextmanager
def watching(cli: Cli, idle_seconds: float = QUIET_WAIT) -> Iterator[ImapPush]:
    """The push watcher `crmsync serve` runs, with the scheduler's poll an hour away."""
    services = build_services({"DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                               "SECRET_KEY": "test-key", "POLL_SECONDS": 3600})
    push = ImapPush(services, idle_seconds=idle_seconds)
    push.start()
    try:
        yield push
    finally:
        push.stop()
        services.dispose()


def delivered(cli: Cli, ews: EwsDouble, address: str, n: int) -> float:
    """Deliver mail ``n`` to the Inbox; return the seconds until it is an activity."""
    wanted = f"<ews-{n}@acme.example>"
    started = time.monotonic()
    ews.mailbox(address).add_item("inbox", mime=mime(n))
    assert wait_for(lambda: wanted in mail_ids(cli), 45), f"mail {n} never arrived"
    return time.monotonic() - started


def connected(cli: Cli, ews: EwsDouble) -> tuple[str, str]:
    """A new mail-only Exchange mailbox, synced once (push marks need a sync state)."""
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts")
    sync(cli, ews, name)
    return name, address


STREAMING = {"mail:inbox": "stream", "mail:sentitems": "stream"}


def test_new_mail_is_pushed_within_seconds(cli: Cli, ews: EwsDouble) -> None:
    # One streaming subscription watches both folders; a delivered mail is an activity
    # long before the watcher's 12 s safety-net sync, and `mailbox list` says "stream".
    name, address = connected(cli, ews)
    with watching(cli) as push:
        assert push.watched == [name]
        assert wait_for(lambda: push_of(cli, name) == STREAMING)
        assert delivered(cli, ews, address, 1) < PUSHED
        assert delivered(cli, ews, address, 2) < PUSHED
    assert push_of(cli, name) == {"mail:inbox": "poll", "mail:sentitems": "poll"}
    operations = ews.operations(address)
    assert operations.count("Subscribe") == 1 and "GetStreamingEvents" in operations
    assert operations[-1] == "Unsubscribe"  # stopping removes the subscription
    assert ews.subscriptions(address) == 0
    assert mail_ids(cli) == ["<ews-1@acme.example>", "<ews-2@acme.example>"]


def test_closed_connections_and_a_lost_subscription_are_re_established(
        cli: Cli, ews: EwsDouble) -> None:
    # The server ends each connection after a second: the watcher reconnects on the same
    # subscription. Then the server drops the subscription: a new one is made, and mail
    # after it is still pushed.
    name, address = connected(cli, ews)
    ews.max_connection_seconds = 1
    with watching(cli):
        assert wait_for(lambda: push_of(cli, name) == STREAMING)
        time.sleep(3)  # a few connections come and go
        assert delivered(cli, ews, address, 3) < PUSHED
        assert ews.operations(address).count("Subscribe") == 1
        assert ews.operations(address).count("GetStreamingEvents") >= 3

        assert ews.expire_streaming(address) == 1
        assert wait_for(lambda: ews.subscriptions(address) == 1)
        time.sleep(4)  # the sync it triggers and the short wait after it pass
        assert delivered(cli, ews, address, 4) < PUSHED
        assert ews.operations(address).count("Subscribe") == 2
    assert len(mail_ids(cli)) == 2


def test_a_server_refusing_streaming_is_polled_instead(
        cli: Cli, ews: EwsDouble, caplog: pytest.LogCaptureFixture) -> None:
    # Streaming refused: the watcher polls at the end of each wait, says "poll", and
    # logs why once however many waits pass; the mail still arrives.
    name, address = connected(cli, ews)
    ews.refuse_streaming = True
    with caplog.at_level(logging.WARNING, logger="crmsync.connectors.ews.push"):
        with watching(cli, idle_seconds=2) as push:
            assert push.watched == [name]
            assert wait_for(lambda: push_of(cli, name) == {
                "mail:inbox": "poll", "mail:sentitems": "poll"}
                and ews.operations(address).count("SyncFolderItems") >= 6)  # two polls
            delivered(cli, ews, address, 5)
    operations = ews.operations(address)
    assert "Subscribe" in operations and "GetStreamingEvents" not in operations
    refusals = [r for r in caplog.records if "refused streaming" in r.getMessage()]
    assert len(refusals) == 1 and "ErrorInvalidSubscriptionRequest" in refusals[0].getMessage()


def test_a_wrong_password_does_not_stop_another_mailboxs_push(
        cli: Cli, ews: EwsDouble, caplog: pytest.LogCaptureFixture) -> None:
    # One mailbox's password is wrong: its watcher says so and retries calmly; the
    # other's pushes.
    name, address = connected(cli, ews)
    other = unique_address()
    ews.add_user(other, "the-right-one")
    broken, _ = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts", address=other,
                                username=other, password="a-wrong-one")
    with caplog.at_level(logging.WARNING, logger="crmsync.sync_service.triggers.imap_idle"):
        with watching(cli) as push:
            assert push.watched == sorted([name, broken])
            assert wait_for(lambda: push_of(cli, name) == STREAMING)
            assert delivered(cli, ews, address, 6) < PUSHED
    refused = [r.getMessage() for r in caplog.records if broken in r.getMessage()]
    assert refused and "refused the sign-in" in refused[0]
    assert ews.subscriptions(other) == 0
    assert mail_ids(cli) == ["<ews-6@acme.example>"]


def test_mailboxes_of_one_service_account_are_all_pushed(cli: Cli, ews: EwsDouble) -> None:
    # Three mailboxes impersonated by one service account share exchangelib's connection
    # pool; each held stream brings its own connection, so the syncs never wait on them.
    load_sample_crm(cli)
    service = unique_address("svc")
    ews.add_user(service, "svc-pass")
    boxes = []
    for _ in range(3):
        address = unique_address()
        ews.mailbox(address)
        ews.grant_impersonation(service, address)
        name, _ = add_ews_mailbox(cli, ews, "--impersonate", "--no-calendar",
                                  "--no-contacts", address=address, username=service,
                                  password="svc-pass")
        sync(cli, ews, name)
        boxes.append((name, address))
    with watching(cli):
        assert wait_for(lambda: all(push_of(cli, n) == STREAMING for n, _ in boxes))
        for n, (_name, address) in enumerate(boxes, start=10):
            assert delivered(cli, ews, address, n) < PUSHED
    assert len(mail_ids(cli)) == 3
