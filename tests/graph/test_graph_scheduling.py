"""Graph push and polling under contention: renewal races and throttled mailboxes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from crmsync.crm.subscriptions import GraphSubscription
from crmsync.sync_service.triggers.graph_subscriptions import renew_due
from crmsync.sync_service.triggers.scheduler import Scheduler
from tests.conftest import Cli, load_sample_crm
from tests.fakes.graph_builders import message
from tests.fakes.graph_server import Fault, GraphDouble
from tests.graph import test_graph_sync
from tests.graph.test_graph_sync import _mailboxes, add_graph_mailbox, inbox, mail_ids

served = test_graph_sync.served


def test_concurrent_renewals_recreate_a_removed_subscription_once(
        cli: Cli, graph: GraphDouble, served) -> None:
    # Lifecycle handling and the scheduler's renewal racing never leave two subscriptions.
    load_sample_crm(cli)
    services, _, url = served
    name, address = add_graph_mailbox(cli, graph, "--notification-url", url)
    removed = next(s for s in graph.subscriptions.values() if address in s["resource"])
    graph.subscriptions.pop(removed["id"])  # Graph dropped it (subscriptionRemoved)
    graph.add_fault(Fault(  # Graph answers the renewal slowly: every racer is inside at once
        match=lambda req: req.method == "PATCH" and removed["id"] in req.path, status=404,
        body={"error": {"code": "ResourceNotFound", "message": "The object was not found."}},
        times=10, delay=0.3))
    later = datetime.now(UTC) + timedelta(days=2)  # the scheduler's pass: everything is due
    jobs = [lambda: renew_due(services, force={removed["id"]}) for _ in range(3)]
    jobs.append(lambda: renew_due(services, now=later))
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    at_graph = [s for s in graph.subscriptions.values() if s["resource"] == removed["resource"]]
    assert len(at_graph) == 1
    with cli.session() as session:
        rows = list(session.scalars(select(GraphSubscription)))
    assert len(rows) == 3 and {r.subscription_id for r in rows} <= set(graph.subscriptions)
    assert at_graph[0]["id"] in {r.subscription_id for r in rows}


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_scheduler_keeps_away_until_retry_after(cli: Cli, graph: GraphDouble, served) -> None:
    # Graph said "come back in 120 s": neither polls nor push touch the mailbox before that.
    load_sample_crm(cli)
    services, _, _ = served
    name, address = add_graph_mailbox(cli, graph)
    inbox(graph, address, message(900))
    clock = FakeClock()
    scheduler = Scheduler(services, clock=clock)
    graph.throttle(1, "120", path_contains=address)
    scheduler.poll_once()
    assert {r["name"]: r["status"] for r in _mailboxes(cli)}[name] == "retrying"
    sent = len(graph.graph_requests(address))
    clock.now += 119
    scheduler.poll_once()
    scheduler.request_sync(name)  # a notification arrives meanwhile
    scheduler.serve_requests()
    assert len(graph.graph_requests(address)) == sent and name in scheduler._requested
    clock.now += 2
    scheduler.serve_requests()  # the deferred push request runs once the delay is over
    assert len(graph.graph_requests(address)) > sent
    assert "<graph900@test.example>" in mail_ids(cli)
    assert name not in scheduler.not_before
