"""A real SMTP submission sink (aiosmtpd) and a webhook receiver, both on 127.0.0.1.

The SMTP sink requires AUTH (the support mailbox's credentials) and can hold a
session at RCPT or after taking the body, so a test can kill the sender there; with
``auth=False`` it is an internal relay instead, which offers no AUTH at all and takes
mail from anyone who connects.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import ssl
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers import free_port


class SinkHandler:
    """Keep every accepted message; optionally hold the session at one step."""

    def __init__(self, passwords: dict[str, str], offer_auth: bool = True) -> None:
        self.passwords = passwords
        self.offer_auth = offer_auth
        self.messages: list[EmailMessage] = []
        #: ``"RCPT"`` or ``"DATA"`` (after the body is kept): wait there for :attr:`release`
        self.hold_at: str | None = None
        self.reached = threading.Event()
        self.release = threading.Event()

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self.passwords.get(
            auth_data.login.decode()) == auth_data.password.decode()
        # handled=False: aiosmtpd then answers a refusal with 535 itself (its default,
        # handled=True, means "already answered" and left smtplib waiting 30 s)
        return AuthResult(success=ok, handled=False)

    async def handle_EHLO(self, server, session, envelope, hostname, responses) -> list[str]:
        """A relay's EHLO answer lists no AUTH line (aiosmtpd always writes one)."""
        session.host_name = hostname
        if self.offer_auth:
            return responses
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def _hold(self, step: str) -> None:
        if self.hold_at == step:
            self.reached.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        await self._hold("RCPT")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)
        await self._hold("DATA")
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


class SmtpSink:
    """Submission on 127.0.0.1 with STARTTLS required before AUTH, as real servers do.

    :attr:`ca_file` is the PEM of the CA that issued its certificate (for SSL_CERT_FILE).
    """

    host = "127.0.0.1"

    def __init__(self, ca_dir: Path, auth: bool = True) -> None:
        self.port = free_port(self.host)
        self.handler = SinkHandler({}, offer_auth=auth)
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.ca_file = ca_dir / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, tls_context=context,
            require_starttls=True, authenticator=self.handler.authenticate if auth else None,
            auth_required=auth,
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self.handler.release.set()
        self._controller.stop()


class WebhookSink:
    """An HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                sink.posts.append({
                    "key": self.headers.get("Idempotency-Key"),
                    "body": json.loads(self.rfile.read(length)),
                })
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/crm"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpSink]:
    """An SMTP sink on 127.0.0.1 for one test (modules that use it import this fixture)."""
    sink = SmtpSink(tmp_path)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[SmtpSink]:
    """An internal relay on 127.0.0.1 that offers no AUTH (STARTTLS still offered)."""
    sink = SmtpSink(tmp_path, auth=False)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    """A webhook receiver on 127.0.0.1 for one test (modules that use it import this)."""
    sink = WebhookSink()
    sink.start()
    yield sink
    sink.stop()
