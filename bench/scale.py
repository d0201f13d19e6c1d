"""Many mailboxes on the distributed engine: capture time with 1, 2 and 4 workers, and
new-mail → CRM latency while every mailbox is watched.

Everything is private and on 127.0.0.1: one Dovecot with ``--mailboxes`` users (one
passwd-file each, ``--mails`` messages each written straight into their Maildirs), one
Redis as the broker, one PostgreSQL with a fresh database per worker count.

For each worker count W: the mailboxes are registered (untimed, without the broker, so
nothing is queued yet), W ``crmsync worker --concurrency 1`` processes are started and
waited for, then one task per mailbox is queued at once (a poll round without jitter)
and the clock runs until every mailbox has a completed sync (``last_sync_at``) and the
queue is empty. Every message must be stored exactly once.

Latency (after the largest W): the W workers watch every mailbox between them (IMAP
IDLE, each its share under watch leases) beside ``crmsync serve`` (broker mode, the
poll an hour away); once every INBOX is marked pushed, ``--latency``
mails are APPENDed one at a time to random mailboxes, and the database is polled every
10 ms until each one's activity row exists.

    python -m bench.scale --mailboxes 1000 --workers 1,2,4 --latency 50
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path

import redis
from sqlalchemy import func, select

from bench import harness
from bench.mailgen import write_maildir
from crmsync.crm.db import session_scope
from crmsync.crm.models import Activity, ActivitySource, Mailbox, SyncState
from crmsync.sync_service.context import Services
from crmsync.sync_service.mailboxes import lifecycle
from crmsync.sync_service.startup import build_services
from crmsync.sync_service.workers.broker import QUEUE, enqueue_sync
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer

ROOT = harness.ROOT
SAMPLES = ROOT / "samples"
SECRET = "bench-key"
#: senders the sample CRM knows (so every mail is captured), and the mailboxes' owner
SENDERS = (("Ana Ruiz", "ana.ruiz@acme.example"), ("Tom Becker", "tom.becker@acme.example"))
OWNER = ("Maria Lopez", "maria.lopez@northwind.example")
START = datetime.now(UTC) - timedelta(days=10)


def mail(n: int) -> bytes:
    """A small plain mail from a known contact to the owner, with a unique Message-ID."""
    msg = EmailMessage()
    msg["From"] = formataddr(SENDERS[n % 2])
    msg["To"] = formataddr(OWNER)
    msg["Subject"] = f"Order {n}"
    msg["Date"] = format_datetime(START + timedelta(minutes=n))
    msg["Message-ID"] = make_msgid(f"s{n}", "scale.example")
    msg.set_content(f"Hello,\n\nabout order {n}.\n")
    return bytes(msg)


def fill(server: DovecotServer, count: int, each: int) -> list[str]:
    """Create ``count`` users with ``each`` mails apiece, written into their Maildirs."""
    users = [f"scale{i:05d}" for i in range(count)]
    for i, user in enumerate(users):
        server.add_user(user, "pw-" + user)
        write_maildir(harness.maildir_of(server, user),
                      ((START, mail(i * each + k)) for k in range(each)),
                      owner=harness.mail_owner())
    return users


class Deployment:
    """One PostgreSQL database with the sample CRM and every mailbox registered."""

    def __init__(self, postgres: PostgresServer, broker: str, tag: str) -> None:
        self.url = postgres.create_database(f"scale_{tag}_{os.getpid()}")
        self.broker = broker
        self.env = {**os.environ, "CRMSYNC_DATABASE_URL": self.url,
                    "CRMSYNC_SECRET_KEY": SECRET, "CRMSYNC_BROKER_URL": broker,
                    "CRMSYNC_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8"}
        self.crmsync("db", "upgrade")
        self.crmsync("org", "set-domains", "northwind.example")
        self.crmsync("crm", "import", "--users", str(SAMPLES / "users.csv"),
                     "--accounts", str(SAMPLES / "accounts.csv"),
                     "--contacts", str(SAMPLES / "contacts.csv"))
        self.services: Services = build_services(
            {"DATABASE_URL": self.url, "SECRET_KEY": SECRET, "BROKER_URL": broker})

    def crmsync(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run([sys.executable, "-m", "crmsync", *args], cwd=ROOT,
                              env={**self.env, **(env or {})}, capture_output=True,
                              text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"crmsync {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def register(self, server: DovecotServer, users: list[str]) -> None:
        """Register the mailboxes as ``mailbox add imap`` does, queueing nothing."""
        box = self.services.secret_box()
        with session_scope(self.services.sessions) as session:
            for user in users:
                settings = {"host": server.host, "port": server.port, "security": "none",
                            "username": user}
                lifecycle.add(session, box, lifecycle.NewMailbox(
                    user, "imap", settings, "pw-" + user, OWNER[1]))

    def count(self, query) -> int:
        with self.services.sessions() as session:
            return int(session.scalar(query) or 0)

    def synced(self) -> int:
        return self.count(select(func.count()).select_from(Mailbox)
                          .where(Mailbox.last_sync_at.is_not(None)))

    def dispose(self) -> None:
        self.services.dispose()


@contextmanager
def running(commands: dict[str, list[str]], env: dict[str, str], logs: Path
            ) -> Iterator[list[subprocess.Popen]]:
    """Run each named command as a process logging to ``logs/<name>.log``, stopped
    (SIGTERM) at the end."""
    processes = []
    try:
        for name, command in commands.items():
            with (logs / f"{name}.log").open("ab") as out:
                processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                                  stderr=subprocess.STDOUT))
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def worker_commands(count: int) -> dict[str, list[str]]:
    """``count`` workers of one pool process each, logging what they do."""
    command = [sys.executable, "-m", "crmsync", "-v", "worker", "--concurrency", "1"]
    return {f"worker{n}": command for n in range(count)}


def ready_workers(logs: Path) -> int:
    """Workers whose log says Celery's "ready." line (their pool is up)."""
    return sum("ready." in path.read_text(errors="replace") for path in logs.glob("worker*"))


def capture(deployment: Deployment, users: list[str], workers: int, logs: Path,
            each: int) -> float:
    """Time W workers capturing every mailbox from a queue of one task each."""
    with running(worker_commands(workers), deployment.env, logs):
        wait_until(lambda: ready_workers(logs) == workers, 60, "the workers to start")
        started = time.perf_counter()
        for user in users:
            enqueue_sync(deployment.services.config, user)
        wait_until(lambda: deployment.synced() == len(users), 3600,
                   "every mailbox captured", every=0.2)
        elapsed = time.perf_counter() - started
    stored = deployment.count(select(func.count()).select_from(ActivitySource))
    activities = deployment.count(select(func.count()).select_from(Activity))
    if not stored == activities == len(users) * each:
        raise RuntimeError(f"expected {len(users) * each} mails once each, found {stored} "
                           f"copies of {activities} activities")
    return elapsed


def latency(deployment: Deployment, server: DovecotServer, users: list[str],
            workers: int, mails: int, logs: Path) -> list[float]:
    """Seconds from APPEND to the activity row, one mail at a time, every mailbox watched."""
    share = -(-len(users) // workers) + 10  # every mailbox watched by some worker
    env = {**deployment.env, "CRMSYNC_POLL_SECONDS": "3600", "CRMSYNC_IMAP_PUSH": "1",
           "CRMSYNC_PUSH_WATCHES_PER_WORKER": str(share)}
    serve = [sys.executable, "-m", "crmsync", "serve", "--port", "0"]
    commands = {**worker_commands(workers), "serve": serve}
    watched = select(func.count()).select_from(SyncState).where(SyncState.push.is_not(None))
    seconds = []
    with running(commands, env, logs):
        wait_until(lambda: deployment.count(watched) >= len(users), 600,
                   "every INBOX watched by IDLE", every=0.5)
        # each watch that starts queues a catch-up sync: time new mail, not that backlog
        wait_until(lambda: queued(deployment.broker) == 0, 600,
                   "the catch-up syncs of the watches to drain", every=0.5)
        rng = random.Random(17)
        for n in range(mails):
            raw = mail(10_000_000 + n)
            message_id = raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].strip().decode()
            started = time.perf_counter()
            server.append(rng.choice(users), "INBOX", raw)
            query = select(func.count()).select_from(Activity).where(
                Activity.internet_message_id == message_id)
            wait_until(lambda q=query: deployment.count(q) == 1, 60, "the new mail",
                       every=0.01)
            seconds.append(time.perf_counter() - started)
            time.sleep(0.2)
    return seconds


def queued(broker: str) -> int:
    """Tasks waiting in the broker's sync queue."""
    client = redis.Redis.from_url(broker)
    try:
        return int(client.llen(QUEUE))
    finally:
        client.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark; return its numbers (``capture_s_<W>``, ``latency_p50_s`` ...)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--mails", type=int, default=5, help="messages per mailbox")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--latency", type=int, default=50,
                        help="new mails timed one at a time (0: skip)")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    os.environ.setdefault("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", "127.0.0.0/8")
    work = Path(tempfile.mkdtemp(prefix="crmsync-scale-"))
    server, redis, postgres = harness.start_dovecot(), RedisServer(), PostgresServer()
    redis.start()
    postgres.start()
    try:
        began = time.perf_counter()
        users = fill(server, args.mailboxes, args.mails)
        print(f"# {args.mailboxes:,} mailboxes x {args.mails} mails on one Dovecot "
              f"(written in {time.perf_counter() - began:.1f} s); {os.cpu_count()} CPUs")
        times: dict[int, float] = {}
        numbers: dict[str, float] = {}
        deployment = None
        for workers in counts:
            if deployment is not None:
                deployment.dispose()
            deployment = Deployment(postgres, redis.url, f"w{workers}")
            deployment.register(server, users)
            logs = work / f"w{workers}"
            logs.mkdir()
            times[workers] = capture(deployment, users, workers, logs, args.mails)
        print_capture(times, args.mailboxes, args.mails)
        numbers.update({f"capture_s_{w}": seconds for w, seconds in times.items()})
        if args.latency and deployment is not None:
            logs = work / "latency"
            logs.mkdir()
            seconds = latency(deployment, server, users, counts[-1], args.latency, logs)
            numbers["latency_p50_s"] = percentile(seconds, 0.5)
            numbers["latency_p95_s"] = percentile(seconds, 0.95)
            print(f"\nnew mail → CRM with {args.mailboxes:,} mailboxes watched (serve + "
                  f"{counts[-1]} workers): p50 {percentile(seconds, 0.5) * 1000:.0f} ms, "
                  f"p95 {percentile(seconds, 0.95) * 1000:.0f} ms, max "
                  f"{max(seconds) * 1000:.0f} ms over {len(seconds)} mails "
                  f"(mean {statistics.fmean(seconds) * 1000:.0f} ms)")
        if deployment is not None:
            deployment.dispose()
    finally:
        postgres.stop()
        redis.stop()
        server.stop()
    print(f"# logs: {work}")
    return numbers


def print_capture(times: dict[int, float], mailboxes: int, each: int) -> None:
    base = times[min(times)] * min(times)
    print("\n| workers | all captured s | mailboxes/s | msgs/s | speedup | per worker |")
    print("|--------:|---------------:|------------:|-------:|--------:|-----------:|")
    for workers, seconds in times.items():
        speedup = base / seconds
        print(f"| {workers} | {seconds:.1f} | {mailboxes / seconds:.1f} | "
              f"{mailboxes * each / seconds:.0f} | {speedup:.2f} | {speedup / workers:.2f} |")


if __name__ == "__main__":
    main()
