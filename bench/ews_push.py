"""Exchange push latency, against the local EWS double: delivery → activity in the CRM.

Runs ``crmsync serve``'s push watcher in-process (the scheduler's poll an hour away, so
only the streaming subscription can bring mail in) on one mail-only Exchange mailbox,
then delivers mails to its Inbox one at a time and polls the database every 5 ms until
the mail's activity row is there. The path measured: the double's change → streaming
notification (chunked GetStreamingEvents, read by the real exchangelib) → the watcher's
sync (SyncFolderItems per folder + GetItem MIME) → mapping → commit. Prints p50, p95
and max, the EWS requests per mail, and last ``ews push latency p50: X.XX s``.

    python -m bench.ews_push [--mails 200] [--gap 0.3]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from bench import harness
from crmsync.crm.models import Activity
from crmsync.sync_service.triggers.imap_idle import ImapPush
from tests.conftest import Cli, load_sample_crm, make_services
from tests.ews.helpers import add_ews_mailbox, mime
from tests.fakes.ews_server import EwsDouble

#: the watcher's quiet wait: longer than any mail takes, so none is brought by its
#: safety-net sync
IDLE_SECONDS = 60


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ews_push", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=200, help="mails, one at a time")
    parser.add_argument("--gap", type=float, default=0.3, help="max random pause between mails")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up on one mail after")
    return parser.parse_args(argv)


def one_mail(ews: EwsDouble, address: str, services, n: int, timeout: float) -> float:
    """Deliver mail ``n`` to the Inbox; return the seconds until its activity row exists."""
    message_id = f"<ews-push-{n}.{random.getrandbits(32):x}@acme.example>"
    raw = mime(n, message_id=message_id)
    began = time.perf_counter()
    ews.mailbox(address).add_item("inbox", mime=raw)
    while time.perf_counter() - began < timeout:
        with services.sessions() as session:
            if session.scalar(select(Activity.id).where(
                    Activity.internet_message_id == message_id)) is not None:
                return time.perf_counter() - began
        time.sleep(0.005)
    raise RuntimeError(f"mail {n} did not arrive within {timeout} s")


def measure(ews: EwsDouble, args: argparse.Namespace, workdir: Path
            ) -> tuple[list[float], Counter[str]]:
    """Return the latency of each mail and the EWS requests the run sent, by operation."""
    url = f"sqlite:///{workdir / 'bench.db'}"
    cli = Cli(url, {"REQUESTS_CA_BUNDLE": os.environ["REQUESTS_CA_BUNDLE"]})
    cli("db", "upgrade")
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts")
    cli("sync", "--mailbox", name, "--once")  # the push marks need the folders' sync states
    services = make_services(url, POLL_SECONDS=3600)
    push = ImapPush(services, idle_seconds=IDLE_SECONDS)
    push.start()
    latencies = []
    try:
        deadline = time.monotonic() + 30
        while ews.subscriptions(address) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = len(ews.operations(address))
        for n in range(args.mails):
            latencies.append(one_mail(ews, address, services, n, args.timeout))
            time.sleep(random.uniform(0, args.gap))
        requests = Counter(ews.operations(address)[before:])
    finally:
        push.stop()
        services.dispose()
    return latencies, requests


def report(latencies: list[float], requests: Counter[str]) -> dict[str, float]:
    numbers = {"p50": harness.percentile(latencies, 0.5),
               "p95": harness.percentile(latencies, 0.95), "max": max(latencies)}
    harness.print_table(["path", "mails", "p50 s", "p95 s", "max s"],
                        [["EWS delivery → streaming notification → sync → activity row",
                          len(latencies), numbers["p50"], numbers["p95"], numbers["max"]]])
    per_mail = ", ".join(f"{op} {count / len(latencies):.2f}"
                         for op, count in sorted(requests.items()))
    print(f"EWS requests per mail (the short wait's sync after each included): {per_mail}")
    print(f"ews push latency p50: {numbers['p50']:.2f} s")
    return numbers


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the measurement, print it, and return p50/p95/max in seconds."""
    args = parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    ews = EwsDouble().start()
    saved_bundle = os.environ.get("REQUESTS_CA_BUNDLE")
    with tempfile.TemporaryDirectory(prefix="crmsync-ews-push-") as tmp:
        os.environ["REQUESTS_CA_BUNDLE"] = ews.ca_file(Path(tmp))
        try:
            latencies, requests = measure(ews, args, Path(tmp))
        finally:
            ews.stop()
            if saved_bundle is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = saved_bundle
    return report(latencies, requests)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
