"""``crmsync serve`` in a process of its own, on a free port, for tests that need the real
server (waitress, its logging, several processes sharing state)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(env: dict[str, str], *args: str, log: Path | None = None) -> Iterator[str]:
    """Run ``crmsync [args] serve`` until /healthz answers; yield its base URL."""
    port = free_port()
    out: IO | int = log.open("w") if log else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "-m", "crmsync", *args, "serve", "--port", str(port),
         "--no-scheduler"], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("crmsync serve did not answer /healthz")
        yield base
    finally:
        server.terminate()
        server.wait(10)
        if log:
            out.close()
