"""A private Redis for tests: its own port and directory on 127.0.0.1, nothing persisted."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class RedisServer:
    """``redis-server`` started by a fixture; a missing binary fails the suite, never skips."""

    def __init__(self, persistent: bool = False) -> None:
        """``persistent``: every write goes to an append-only file synced at once, so a
        restart keeps queued tasks (as a production broker is configured)."""
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError("redis-server is missing: scripts/test.sh installs it")
        self.binary = binary
        self.directory = Path(tempfile.mkdtemp(prefix="crmsync-redis-"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen | None = None
        self.persistence = ["--appendonly", "yes", "--appendfsync", "always"] if persistent \
            else ["--appendonly", "no"]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.directory), "--save", "", *self.persistence, "--protected-mode",
             "yes"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def keys(self) -> list[bytes]:
        """Every key the server holds (for tests that look for leaked secrets)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(b"KEYS *\r\n")
            time.sleep(0.1)
            return conn.recv(1 << 20).split(b"\r\n")

    def restart(self, down_seconds: float = 0.0) -> None:
        """Kill the server (SIGKILL: clients see their connections reset), stay down
        ``down_seconds``, then start it again on the same port and directory."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        time.sleep(down_seconds)
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
