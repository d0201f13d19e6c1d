"""Push latency: from IMAP APPEND to the mail being visible through the HTTP API.

Starts a private Dovecot and ``crmsync serve`` (its scheduler's poll set an hour
away, so only IMAP IDLE push can bring mail in), then APPENDs mails one by one,
each from a different CRM contact, and polls ``GET /api/v1/lookup?address=<sender>``
every 10 ms until the mail's subject is among the contact's recent activities.
Dovecot itself holds change notifications for 0.5 s (``* N EXISTS`` arrives 0.51 s
after an APPEND): that is the floor. Prints p50/p95/max; the last line is
``latency p50: X.XX s``.

Run: ``python -m bench.latency [--mails 200]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bench import harness, mailgen
from tests.servers import free_port

USER, PASSWORD = "latency", "latency-pw"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.3, help="max random pause between mails")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up on one mail after")
    return parser.parse_args(argv)


class Served:
    """``crmsync serve`` on a free port against a prepared database."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port("127.0.0.1")
        self.env = env
        self.log = (workdir / "serve.log").open("wb")
        self.process = subprocess.Popen(
            harness.crmsync_command("serve", "--port", str(self.port)),
            # the client polls every 10 ms: it measures push, not the rate limits
            env={**os.environ, **env, "CRMSYNC_RATE_LIMIT_PER_USER": "1000000/minute",
                 "CRMSYNC_RATE_LIMIT_PER_IP": "1000000/minute"},
            stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir,
        )
        self.key = ""

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("crmsync serve exited; see serve.log") from None
                time.sleep(0.1)
        raise RuntimeError("crmsync serve did not answer /healthz")

    def recent_subjects(self, address: str) -> list[str]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/lookup?address={address}",
            headers={"Authorization": f"Bearer {self.key}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            data = json.load(response)
        return [a["subject"] for a in data.get("recent_activities", [])]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def prepare(workdir: Path, server, corpus: mailgen.Corpus) -> dict[str, str]:
    """Create the database, CRM and mailbox; return the environment for ``crmsync``."""
    env = {"CRMSYNC_DATABASE_URL": f"sqlite:///{workdir / 'crmsync.db'}",
           "CRMSYNC_SECRET_KEY": "bench-key", "CRMSYNC_POLL_SECONDS": "3600",
           "CRMSYNC_PUSH_IDLE_SECONDS": "600", "BENCH_IMAP_PASSWORD": PASSWORD}
    csvs = mailgen.write_crm(corpus, workdir / "crm", opportunities=50)
    steps = [
        ["db", "upgrade"],
        ["org", "set-domains", mailgen.INTERNAL_DOMAIN],
        ["crm", "import", *[x for k, p in csvs.items() for x in (f"--{k}", str(p))]],
        ["mailbox", "add", "imap", "latency", "--host", server.host, "--port", str(server.port),
         "--security", "none", "--username", USER, "--password-env", "BENCH_IMAP_PASSWORD",
         "--owner", mailgen.OWNER, "--folders", "INBOX"],
        ["sync", "--once"],
    ]
    for args in steps:
        run = harness.measure(harness.crmsync_command(*args), env=env, cwd=workdir)
        if run.returncode:
            raise RuntimeError(f"crmsync {' '.join(args[:2])} failed:\n{run.output}")
    key = harness.measure(harness.crmsync_command("apikey", "create", mailgen.OWNER), env=env)
    env["API_KEY"] = key.output.strip().splitlines()[-1]
    return env


def one_mail(served: Served, client, sender: mailgen.Person, n: int, timeout: float) -> float:
    """APPEND one mail from ``sender``; return seconds until the API shows it."""
    subject = f"latency probe {n} {random.getrandbits(32):x}"
    raw = (f"From: {sender.name} <{sender.address}>\r\nTo: {mailgen.OWNER}\r\n"
           f"Subject: {subject}\r\nDate: {datetime.now(UTC):%a, %d %b %Y %H:%M:%S +0000}\r\n"
           f"Message-ID: <probe{n}.{random.getrandbits(40):x}@bench>\r\n\r\nping\r\n").encode()
    start = time.perf_counter()
    client.append("INBOX", raw)
    while time.perf_counter() - start < timeout:
        if subject in served.recent_subjects(sender.address):
            return time.perf_counter() - start
        time.sleep(0.01)
    raise RuntimeError(f"mail {n} did not show up within {timeout} s")


def run(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    harness.ensure_peers(["/usr/sbin/dovecot"])
    corpus = mailgen.make_corpus(contacts=max(args.mails, 10), domains=50)
    server = harness.start_dovecot()
    served = None
    try:
        server.add_user(USER, PASSWORD)
        env = prepare(workdir, server, corpus)
        served = Served(workdir, env)
        served.key = env["API_KEY"]
        served.wait_ready()
        time.sleep(1.0)  # let the watcher log in and enter IDLE
        latencies = []
        with server.connect(USER) as client:
            for n in range(args.mails):
                sender = corpus.contacts[n % len(corpus.contacts)][1]
                latencies.append(one_mail(served, client, sender, n, args.timeout))
                time.sleep(random.uniform(0, args.gap))
    finally:
        if served is not None:
            served.stop()
        server.stop()
    return report(latencies)


def report(latencies: list[float]) -> dict[str, float]:
    numbers = {"p50": harness.percentile(latencies, 0.5),
               "p95": harness.percentile(latencies, 0.95), "max": max(latencies)}
    harness.print_table(["path", "mails", "p50 s", "p95 s", "max s"],
                        [["IMAP APPEND → IDLE → sync → API", len(latencies), numbers["p50"],
                          numbers["p95"], numbers["max"]]])
    print(f"latency p50: {numbers['p50']:.2f} s")
    return numbers


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crmsync-latency-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
