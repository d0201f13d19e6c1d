"""Graph request budget and push latency, against the local Graph double.

Prints: requests for an initial sync of 10,000 messages (one folder, 10 % with
attachments, page size 500), requests for a no-change poll of every resource,
and notification-to-CRM latency (mail created in the double → activity row), the
p50, p95 and max over mails pushed one at a time through the real webhook, scheduler
and engine.

    python bench/graph_requests.py [--messages 10000] [--runs 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from crmsync.connectors.graph import GraphConnector  # noqa: E402
from crmsync.crm.models import Activity  # noqa: E402
from tests.conftest import Cli, load_sample_crm, make_services  # noqa: E402
from tests.fakes.graph_builders import message  # noqa: E402
from tests.fakes.graph_server import GraphDouble  # noqa: E402


def request_budget(graph: GraphDouble, count: int) -> tuple[int, int, int]:
    """Return (requests for the initial sync, items, requests for a no-change poll)."""
    address = "bench@northwind.example"
    graph.register_app("bench-app", secret="s")
    box = graph.add_mailbox(address)
    attachment = [{"name": "a.pdf", "contentType": "application/pdf", "size": 10}]
    for n in range(count):
        extra = {"hasAttachments": True, "attachments": attachment} if n % 10 == 0 else {}
        graph.data.put(address, box.folder_id("inbox"), message(n, **extra))
    connector = GraphConnector.from_settings({
        "tenant": graph.tenant, "client_id": "bench-app", "address": address,
        "authority_url": graph.base_url, "graph_url": graph.base_url, "batch_size": 500,
    }, "s")
    with connector:
        connector.client.tokens.token(connector.settings.scope)
        graph.reset_counts()
        cursors, items = {}, 0
        for resource in connector.list_resources():
            for page in connector.fetch_changes(resource, None):
                items += len(page.changes)
                cursors[resource] = page.cursor
        initial = len(graph.graph_requests())  # $batch has no user in its path
        graph.reset_counts()
        for resource, cursor in cursors.items():
            list(connector.fetch_changes(resource, cursor))
        poll = len(graph.graph_requests())
    return initial, items, poll


def push_latency(graph: GraphDouble, runs: int, workdir: Path) -> list[float]:
    """Seconds from a mail appearing in the double to its activity row, per run."""
    from crmsync.sync_service.triggers.scheduler import Scheduler
    from crmsync.sync_service.web.app import create_app

    url = f"sqlite:///{workdir / 'bench.db'}"
    cli = Cli(url, {"REQUESTS_CA_BUNDLE": os.environ["REQUESTS_CA_BUNDLE"],
                    "GRAPH_SECRET": "s"})
    cli("db", "upgrade")
    load_sample_crm(cli)
    services = make_services(url, POLL_SECONDS=3600)
    app = create_app(services=services)
    scheduler = Scheduler(services)
    app.extensions["crmsync.scheduler"] = scheduler
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = "push@northwind.example"
    graph.register_app("push-app", secret="s")
    box = graph.add_mailbox(address)
    cli("mailbox", "add", "graph", "push", "--tenant", graph.tenant, "--client-id", "push-app",
        "--secret-env", "GRAPH_SECRET", "--address", address, "--authority-url", graph.base_url,
        "--graph-url", graph.base_url, "--notification-url",
        f"http://127.0.0.1:{server.server_port}/webhooks/graph")
    scheduler.start()
    latencies = []
    try:
        time.sleep(1.0)  # the first full sync
        for n in range(runs):
            mid = f"<graph{90000 + n}@test.example>"
            began = time.perf_counter()
            graph.data.put(address, box.folder_id("inbox"), message(90000 + n))
            while True:
                with services.sessions() as session:
                    if session.scalar(select(Activity.id).where(
                            Activity.internet_message_id == mid)) is not None:
                        break
                time.sleep(0.005)
            latencies.append(time.perf_counter() - began)
    finally:
        scheduler.stop()
        server.shutdown()
        server.server_close()
        services.dispose()
    return latencies


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the budget and latency measurements, print them, and return the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200, help="pushed mails, one at a time")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    graph = GraphDouble().start()
    saved_bundle = os.environ.get("REQUESTS_CA_BUNDLE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["REQUESTS_CA_BUNDLE"] = graph.ca_file(Path(tmp))
        try:
            initial, items, poll = request_budget(graph, args.messages)
            latencies = push_latency(graph, args.runs, Path(tmp))
        finally:
            graph.stop()
            if saved_bundle is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = saved_bundle
    per_10k = initial * 10_000 / max(items, 1)
    print(f"initial sync: {initial} Graph requests for {items} messages "
          f"({per_10k:.0f} per 10,000; page size 500, 10 % with attachments)")
    print(f"no-change poll: {poll} requests for 4 resources (inbox, sent items, calendar, "
          f"contacts) = {poll / 4:.2f} per resource")
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else latencies[0]
    print(f"notification-to-CRM latency: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
          f"over {len(latencies)} mails")
    return {"requests_per_10k": per_10k, "poll_per_resource": poll / 4,
            "latency_median": statistics.median(latencies), "items": items}


if __name__ == "__main__":
    main()
