"""A private Radicale (CalDAV and CardDAV) for tests: TLS on 127.0.0.1, a free port.

Radicale is the reference CalDAV/CardDAV server vdirsyncer tests against; it keeps each
collection as a folder of ``.ics``/``.vcf`` files and answers RFC 6578 sync-collection.
Users sign in with HTTP Basic against an htpasswd file in plain text (the file is read
again on each sign-in, so :meth:`RadicaleServer.new_user` works while it runs). TLS comes
from a trustme CA, which clients trust through ``REQUESTS_CA_BUNDLE`` (as the EWS double).
"""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trustme

_users = itertools.count(1)


@dataclass(frozen=True)
class DavUser:
    """One Radicale account: its sign-in and its principal's URL."""

    username: str
    password: str
    base_url: str

    @property
    def principal_url(self) -> str:
        return f"{self.base_url}/{self.username}/"


class RadicaleServer:
    """``python -m radicale`` started by a fixture; a failed start fails the suite."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="crmsync-radicale-"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.ca = trustme.CA()
        self.ca_path = str(self.directory / "ca.pem")
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> RadicaleServer:
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_and_cert_chain_pem.write_to_path(str(self.directory / "server.pem"))
        self.ca.cert_pem.write_to_path(self.ca_path)
        (self.directory / "users").write_text("")
        config = self.directory / "config"
        config.write_text(_CONFIG.format(port=self.port, root=self.directory))
        with (self.directory / "radicale.log").open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "radicale", "--config", str(config)],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        output = (self.directory / "radicale.log").read_text()[-2000:]
        self.stop()
        raise RuntimeError(f"Radicale did not start on port {self.port}:\n{output}")

    def new_user(self, prefix: str = "rep") -> DavUser:
        """An account no other test uses (the server lives for the whole session)."""
        user = DavUser(f"{prefix}{next(_users)}", f"pw-{next(_users)}", self.base_url)
        with (self.directory / "users").open("a") as users:
            users.write(f"{user.username}:{user.password}\n")
        return user

    def collection_path(self, user: DavUser, name: str) -> Path:
        """Where Radicale keeps a collection's files (to damage one item on purpose)."""
        return self.directory / "collections" / "collection-root" / user.username / name

    def requests(self, method: str, href: str) -> int:
        """How many ``method`` requests for ``href`` the server logged so far."""
        log = (self.directory / "radicale.log").read_text(errors="replace")
        return log.count(f"{method} request for {href!r}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)


_CONFIG = """\
[server]
hosts = 127.0.0.1:{port}
ssl = True
certificate = {root}/server.pem
key = {root}/server.pem

[auth]
type = htpasswd
htpasswd_filename = {root}/users
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {root}/collections

[logging]
level = info
"""
