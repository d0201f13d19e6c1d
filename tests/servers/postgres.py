"""A private PostgreSQL cluster for tests, from Debian's ``postgresql`` server binaries.

``initdb`` refuses to run as root, so as root the cluster runs as the
``postgres`` user Debian's package creates. The cluster is made by ``initdb`` and run by
``pg_ctl`` (https://www.postgresql.org/docs/current/app-initdb.html,
https://www.postgresql.org/docs/current/app-pg-ctl.html) on 127.0.0.1 and a free port,
with ``fsync=off``: a throwaway cluster; the system service is never started.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """Start with :meth:`start`, stop with :meth:`stop`; :attr:`url` is a SQLAlchemy URL."""

    def __init__(self, durable_commits: bool = False) -> None:
        """``durable_commits``: a commit returns once its WAL is written
        (``synchronous_commit=on``), so a crash-restart (:meth:`restart`) keeps every
        commit a client saw, as a production server does; else the last ones may vanish."""
        self.dir = Path(tempfile.mkdtemp(prefix="crmsync-pg-"))
        self.port = _free_port()
        self.bindir = _bindir()
        self._as_postgres = os.geteuid() == 0
        self.synchronous_commit = "on" if durable_commits else "off"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "crmsync")
        self._launch()

    def restart(self, down_seconds: float = 0.0) -> None:
        """Crash the server (``pg_ctl stop -m immediate``: every connection dropped, no
        shutdown checkpoint, as a killed server or a failover), stay down
        ``down_seconds``, then start it again on the same data and port."""
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        time.sleep(down_seconds)
        self._launch()

    def _launch(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit={self.synchronous_commit} -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.dir / "data"),
            "-l",
            str(self.dir / "log"),
            "-o",
            options,
            "-w",
            "start",
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not start; see {self.dir / 'log'}")

    def create_database(self, name: str) -> str:
        """Create a database and return its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://crmsync@127.0.0.1:{self.port}/{name}"

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=crmsync dbname={database}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
