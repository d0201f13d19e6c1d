"""A local HTTP SMS gateway (Flask on werkzeug, 127.0.0.1): keeps every text it accepts.

It takes what :mod:`crmsync.connectors.sms_gateway` sends (a JSON POST with ``to``,
``text`` and ``reference``), checks the bearer token, and can answer the next requests
with an error status, as a gateway that is down would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

TOKEN = "sms-gateway-token-7d1e"


class SmsGatewayDouble:
    """``texts``: the accepted messages (with their headers); ``fail_next``: answer that
    many requests with ``fail_status`` instead."""

    def __init__(self) -> None:
        self.texts: list[dict] = []
        self.refused = 0
        self.fail_next = 0
        self.fail_status = 503
        app = Flask("sms-gateway-double")
        app.add_url_rule("/v1/messages", "send", self._send, methods=["POST"])
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/v1/messages"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _send(self) -> tuple[dict, int]:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return {"error": "unauthorized"}, 401
        if self.fail_next:
            self.fail_next -= 1
            self.refused += 1
            return {"error": "unavailable"}, self.fail_status
        body = request.get_json()
        self.texts.append({**body, "key": request.headers.get("Idempotency-Key")})
        return {"id": f"msg-{len(self.texts)}", "status": "queued"}, 201

    def to(self, phone: str) -> list[dict]:
        return [text for text in self.texts if text["to"] == phone]

    def env(self) -> dict[str, str]:
        """The settings that point crmsync at this gateway, token included."""
        return {"CRMSYNC_SMS_GATEWAY_URL": self.url,
                "CRMSYNC_SMS_GATEWAY_TOKEN_ENV": "TEST_SMS_TOKEN", "TEST_SMS_TOKEN": TOKEN}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def sms_gateway() -> Iterator[SmsGatewayDouble]:
    gateway = SmsGatewayDouble()
    gateway.start()
    yield gateway
    gateway.stop()
