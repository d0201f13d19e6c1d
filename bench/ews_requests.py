"""EWS request budget against the local Exchange double, driven by the real exchangelib.

Prints the requests (by operation) an initial sync of ``--messages`` messages in one
folder costs (``SyncFolderItems`` pages of ``--batch`` changes, ``GetItem`` of the MIME
in batches), the same per 10,000 messages, the bytes of MIME fetched, and the requests
of a no-change poll of every resource (Inbox, Sent Items, calendar, contacts): what an
Exchange server's load from crmsync is, next to Graph's (bench/graph_requests.py).

    python bench/ews_requests.py [--messages 10000] [--batch 500]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crmsync.connectors.ews import EwsConnector  # noqa: E402
from tests.fakes.ews_server import EwsDouble  # noqa: E402

ADDRESS = "bench@contoso.com"


def mail(n: int) -> bytes:
    return (f"From: Ana Ruiz <ana.ruiz@acme.example>\r\nTo: {ADDRESS}\r\n"
            f"Subject: Order {n}\r\nMessage-ID: <bench-{n}@acme.example>\r\n"
            "Date: Mon, 02 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Please confirm order {n}.\r\n" + "x" * 1500 + "\r\n").encode()


def budget(double: EwsDouble, count: int, batch: int) -> dict[str, object]:
    box = double.add_user(ADDRESS, "pw")
    for n in range(count):
        box.add_item("inbox", mime=mail(n))
    connector = EwsConnector.from_settings(
        {"url": double.url, "username": ADDRESS, "auth": "basic", "batch_size": batch}, "pw")
    with connector:
        before = len(double.requests)
        started = time.perf_counter()
        cursors, items, mime_bytes = {}, 0, 0
        for resource in connector.list_resources():
            for page in connector.fetch_changes(resource, None):
                items += len(page.changes)
                mime_bytes += sum(getattr(c, "size", 0) for c in page.changes)
                cursors[resource] = page.cursor
        seconds = time.perf_counter() - started
        initial = collections.Counter(r.operation for r in double.requests[before:])
    with EwsConnector.from_settings(
            {"url": double.url, "username": ADDRESS, "auth": "basic", "batch_size": batch},
            "pw") as again:  # a new run: its own connection and folder lookups
        before = len(double.requests)
        for resource, cursor in cursors.items():
            list(again.fetch_changes(resource, cursor))
        poll = collections.Counter(r.operation for r in double.requests[before:])
    return {"initial": initial, "items": items, "seconds": seconds, "bytes": mime_bytes,
            "poll": poll}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)  # CRMSYNC_SYNC_BATCH_SIZE
    args = parser.parse_args(argv)
    os.environ.setdefault("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", "127.0.0.0/8")
    double = EwsDouble().start()
    try:
        ca = double.ca_file(Path(tempfile.mkdtemp(prefix="ews-bench-")))
        os.environ["REQUESTS_CA_BUNDLE"] = ca
        result = budget(double, args.messages, args.batch)
    finally:
        double.stop()
    initial, poll = result["initial"], result["poll"]
    total = sum(initial.values())  # type: ignore[attr-defined]
    per_10k = total * 10_000 / max(1, args.messages)
    print(f"EWS requests for {args.messages} messages (SyncFolderItems pages of "
          f"{args.batch}): {total} {dict(initial)}")  # type: ignore[arg-type]
    print(f"EWS requests per 10,000 messages: {per_10k:.0f}")
    print(f"initial sync: {result['items']} items, {result['bytes']} bytes of MIME, "
          f"{result['seconds']:.1f} s against the double")
    print(f"EWS requests for a no-change poll of every resource: {sum(poll.values())} "
          f"{dict(poll)}")  # type: ignore[attr-defined]
    return {"items": float(result["items"]), "per_10k": per_10k,  # type: ignore[arg-type]
            "poll": float(sum(poll.values()))}  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
