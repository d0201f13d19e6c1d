"""Microsoft 365 end to end: `crmsync mailbox add graph` + `crmsync sync` against the double."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from crmsync.crm.subscriptions import GraphSubscription
from crmsync.sync_service.triggers.graph_subscriptions import renew_due
from crmsync.sync_service.triggers.scheduler import Scheduler
from crmsync.sync_service.web.app import create_app
from tests.conftest import Cli, load_sample_crm, make_services
from tests.fakes.graph_builders import ANA, MARIA, WEI, event, message
from tests.fakes.graph_fixtures import unique
from tests.fakes.graph_server import GraphDouble


def add_graph_mailbox(cli: Cli, graph: GraphDouble, *extra: str,
                      address: str | None = None) -> tuple[str, str]:
    """Register a new double mailbox (own app registration) through the CLI."""
    address = address or f"{unique('rep')}@northwind.example"
    if graph.data.mailbox(address) is None:
        graph.add_mailbox(address)
    client_id = unique("app-")
    graph.register_app(client_id, secret="s3cret")
    name = unique("m365-")
    cli("mailbox", "add", "graph", name, "--tenant", graph.tenant, "--client-id", client_id,
        "--secret-env", "GRAPH_SECRET", "--address", address, "--authority-url",
        graph.base_url, "--graph-url", graph.base_url, "--owner",
        "maria.lopez@northwind.example", *extra,
        env={"GRAPH_SECRET": "s3cret", "REQUESTS_CA_BUNDLE": graph.ca_path})
    return name, address


def sync(cli: Cli, graph: GraphDouble, name: str, ok: bool = True) -> str:
    return cli("sync", "--mailbox", name, "--once", ok=ok,
               env={"REQUESTS_CA_BUNDLE": graph.ca_path, "CRMSYNC_SYNC_BATCH_SIZE": "4"}).output


def inbox(graph: GraphDouble, address: str, item: dict) -> str:
    return graph.data.put(address, graph.data.mailbox(address).folder_id("inbox"), item)


def mail_ids(cli: Cli) -> list[str]:
    return sorted(a["internet_message_id"] for a in cli.export_activities() if a["kind"] == "email")


def test_connect_from_cli_sync_then_resync_without_duplicates(
        cli: Cli, graph: GraphDouble) -> None:
    # A tenant mailbox is connected from the CLI; an expired delta token later costs no duplicates.
    load_sample_crm(cli)
    name, address = add_graph_mailbox(cli, graph)
    for n in range(10):
        inbox(graph, address, message(n))
    assert "ok" in sync(cli, graph, name)
    assert len(mail_ids(cli)) == 10
    inbox(graph, address, message(10))
    graph.gone(times=1)
    assert "ok" in sync(cli, graph, name)
    assert len(mail_ids(cli)) == 11 and len(set(mail_ids(cli))) == 11


def test_mail_seen_by_two_mailboxes_is_one_activity(cli: Cli, graph: GraphDouble) -> None:
    # Maria and Wei both got Ana's mail: one activity, two sources.
    load_sample_crm(cli)
    first, a1 = add_graph_mailbox(cli, graph)
    second, a2 = add_graph_mailbox(cli, graph)
    inbox(graph, a1, message(200, to=(MARIA, WEI)))
    inbox(graph, a2, message(200, to=(MARIA, WEI)))
    sync(cli, graph, first)
    sync(cli, graph, second)
    activities = cli.export_activities()
    assert len(activities) == 1 and len(activities[0]["sources"]) == 2


def test_dead_grant_marks_only_that_mailbox(cli: Cli, graph: GraphDouble) -> None:
    # One revoked app registration: its mailbox needs re-auth, the other keeps syncing.
    load_sample_crm(cli)
    good, good_address = add_graph_mailbox(cli, graph)
    bad, _ = add_graph_mailbox(cli, graph)
    with cli.session() as session:
        from crmsync.crm.models import Mailbox

        client_id = session.scalars(select(Mailbox).where(Mailbox.name == bad)).one().settings[
            "client_id"]
    graph.fail_token(client_id)
    inbox(graph, good_address, message(300))
    cli("sync", "--once", ok=False, env={"REQUESTS_CA_BUNDLE": graph.ca_path})
    rows = {r["name"]: r for r in _mailboxes(cli)}
    assert rows[bad]["status"] == "needs re-auth" and "invalid_grant" in rows[bad]["last_error"]
    assert rows[good]["status"] == "ok" and rows[good]["items"] == 1


def _mailboxes(cli: Cli) -> list[dict]:
    import json

    return [json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines()]


def test_crash_between_pages_resumes_exactly(cli: Cli, graph: GraphDouble) -> None:
    # A run cut off after two pages resumes from the third: every mail once, no page refetched.
    load_sample_crm(cli)
    name, address = add_graph_mailbox(cli, graph)
    for n in range(12):
        inbox(graph, address, message(400 + n))
    skips = iter(range(3))
    graph.throttle(1, "120", path_contains="$skiptoken")
    graph.faults[-1].match = lambda req: "$skiptoken" in req.args and next(skips) == 1
    assert "retrying" in sync(cli, graph, name, ok=False)
    assert len(mail_ids(cli)) == 8
    graph.reset_counts()
    assert "ok" in sync(cli, graph, name)
    assert len(mail_ids(cli)) == 12 and len(set(mail_ids(cli))) == 12
    inbox_requests = [r for r in graph.graph_requests(address) if "inbox" in r.url]
    assert "$skiptoken" in inbox_requests[0].url  # resumed mid-round, not from the start


def test_meetings_are_stored_with_attendees(cli: Cli, graph: GraphDouble) -> None:
    # A customer meeting in the calendar becomes a meeting activity with its people.
    load_sample_crm(cli)
    name, address = add_graph_mailbox(cli, graph)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    graph.data.put(address, "calendar", event("Acme QBR", start, attendees=(ANA,)))
    graph.data.put(address, "calendar", event("Private", start, sensitivity="private"))
    sync(cli, graph, name)
    meetings = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    assert [m["subject"] for m in meetings] == ["Acme QBR"]
    roles = {(p["address"], p["role"]) for p in meetings[0]["participants"]}
    assert ("ana.ruiz@acme.example", "attendee") in roles


@pytest.fixture
def served(cli: Cli, graph: GraphDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    """crmsync serve in-process: the app on 127.0.0.1 and the embedded scheduler."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", graph.ca_path)
    services = make_services(cli.env["CRMSYNC_DATABASE_URL"], POLL_SECONDS=3600)
    app = create_app(services=services)
    scheduler = Scheduler(services)
    app.extensions["crmsync.scheduler"] = scheduler
    server = make_server("127.0.0.1", 0, app, threaded=True)
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/webhooks/graph"
    yield services, scheduler, url
    scheduler.stop()
    server.shutdown()
    server.server_close()
    thread.join()
    services.dispose()


def wait_for(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_webhook_validation_then_notification_brings_mail_in(
        cli: Cli, graph: GraphDouble, served) -> None:
    # Connecting with a notification URL subscribes; a new mail then reaches the CRM by push.
    load_sample_crm(cli)
    services, scheduler, url = served
    name, address = add_graph_mailbox(cli, graph, "--notification-url", url)
    subs = [s for s in graph.subscriptions.values() if address in s["resource"]]
    assert len(subs) == 3  # inbox, sent items, calendar
    scheduler.start()
    assert wait_for(lambda: _status(cli, name) == "ok")
    inbox(graph, address, message(500))
    assert wait_for(lambda: "<graph500@test.example>" in mail_ids(cli))


def _status(cli: Cli, name: str) -> str:
    return {r["name"]: r["status"] for r in _mailboxes(cli)}[name]


def test_wrong_client_state_is_ignored(cli: Cli, graph: GraphDouble, served) -> None:
    # A forged notification (wrong clientState) is accepted with 202 but triggers nothing.
    load_sample_crm(cli)
    services, scheduler, url = served
    name, address = add_graph_mailbox(cli, graph, "--notification-url", url)
    sub = next(s for s in graph.subscriptions.values() if address in s["resource"])
    app = create_app(services=services)
    response = app.test_client().post("/webhooks/graph", json={"value": [
        {"subscriptionId": sub["id"], "clientState": "forged", "changeType": "created"}]})
    assert response.status_code == 202 and not scheduler._requested


def test_subscriptions_are_renewed_and_recreated(cli: Cli, graph: GraphDouble, served) -> None:
    # One Graph removed is created again at once; the others are renewed before expiry.
    load_sample_crm(cli)
    services, _, url = served
    name, address = add_graph_mailbox(cli, graph, "--notification-url", url)
    ours = [s for s in graph.subscriptions.values() if address in s["resource"]]
    graph.send_lifecycle(ours[0]["id"], "subscriptionRemoved")
    assert wait_for(lambda: "recreated" in _events(cli))
    soon = datetime.now(UTC) + timedelta(hours=1)
    with services.sessions.begin() as session:
        for row in session.scalars(select(GraphSubscription)):
            row.expires_at = soon
    assert renew_due(services) == 3
    with cli.session() as session:
        rows = list(session.scalars(select(GraphSubscription)))
    assert len(rows) == 3 and all(r.expires_at.replace(tzinfo=UTC) > soon for r in rows)
    assert {r.subscription_id for r in rows} <= set(graph.subscriptions)
    cli("graph", "unsubscribe", name, env={"REQUESTS_CA_BUNDLE": graph.ca_path})
    assert not [s for s in graph.subscriptions.values() if address in s["resource"]]


def _events(cli: Cli) -> list[str | None]:
    with cli.session() as session:
        return [r.last_event for r in session.scalars(select(GraphSubscription))]
