"""Helpers for the distributed engine's tests: a broker per test, workers as processes."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis as redis_client

from tests.conftest import ROOT, Cli
from tests.servers.redis import RedisServer

#: Redis databases 1..15, one per test: a task one test leaves queued never reaches another
_databases = itertools.cycle(range(1, 16))


def broker_url(server: RedisServer) -> str:
    return server.url.rsplit("/", 1)[0] + f"/{next(_databases)}"


def flush(url: str) -> None:
    client = redis_client.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def queued(url: str) -> int:
    """Tasks waiting in the queue plus tasks handed out but not acknowledged."""
    client = redis_client.Redis.from_url(url)
    try:
        return int(client.llen("crmsync.sync")) + int(client.hlen("unacked"))
    finally:
        client.close()


@contextmanager
def workers(cli: Cli, count: int, log_dir: Path, concurrency: int = 2,
            env: dict[str, str] | None = None) -> Iterator[list[subprocess.Popen]]:
    """Run ``count`` ``python -m crmsync worker`` processes, each in its own process group
    (so a test can kill one with its pool), stopped at the end."""
    processes = [start_worker(cli, log_dir / f"worker{n}.log", concurrency, env)
                 for n in range(count)]
    try:
        yield processes
    finally:
        for process in processes:
            stop_worker(process)


def start_worker(cli: Cli, log: Path, concurrency: int = 2,
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "crmsync", "-v", "worker", "--concurrency", str(concurrency)],
            cwd=ROOT, env={**os.environ, **cli.env, **(env or {})}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
