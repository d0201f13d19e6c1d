"""A tiny OAuth 2.0 token introspection endpoint (RFC 7662) for Dovecot's oauth2 passdb.

It plays the identity provider's part: tokens it issued are active and name their
user; anything else is inactive. Real HTTP on 127.0.0.1, in a background thread.
"""

from __future__ import annotations

import json
import secrets
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class IntrospectionServer:
    """``issue(user)`` returns an access token; ``revoke(token)`` makes it inactive."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.requests = 0
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/introspect"

    def issue(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = user
        return token

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    def _app(self, environ, start_response):
        request = Request(environ)
        self.requests += 1
        token = request.form.get("token", "")
        user = self.tokens.get(token)
        body = {"active": "true", "username": user} if user else {"active": "false"}
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)

    def __enter__(self) -> IntrospectionServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
