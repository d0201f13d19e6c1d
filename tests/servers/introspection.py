"""A tiny OAuth 2.0 identity provider for Dovecot's oauth2 passdb and crmsync's refresh.

It plays the identity provider's part on 127.0.0.1 (real HTTP, a background thread):

* ``/introspect`` (RFC 7662), which Dovecot asks: tokens it issued and that have not
  expired or been revoked are active and name their user; anything else is inactive;
* ``/token`` (RFC 6749 6), the ``refresh_token`` grant crmsync renews tokens with:
  client authentication in the body, a new access token each time, and (``rotate``) a
  new refresh token that replaces the old one, which then stops working.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class IntrospectionServer:
    """``issue(user)`` returns an access token; ``revoke(token)`` makes it inactive;
    ``grant(user, client_id)`` a refresh token for :attr:`token_url`.

    :param lookup: also accept the tokens another identity provider issued (the Graph
        double's): token → user, or ``None``.
    """

    def __init__(self, lookup: Callable[[str], str | None] | None = None) -> None:
        self.lookup = lookup
        self.tokens: dict[str, str] = {}
        #: access token → when it stops being active (absent: never)
        self.expiry: dict[str, float] = {}
        #: refresh token → (user, client id)
        self.refresh_tokens: dict[str, tuple[str, str]] = {}
        #: client id → secret (``None``: a public client)
        self.clients: dict[str, str | None] = {}
        #: seconds a refreshed access token lives, and whether refresh tokens rotate
        self.lifetime = 3600.0
        self.rotate = True
        self.requests = 0
        self.token_requests = 0
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/introspect"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/token"

    def issue(self, user: str, lifetime: float | None = None) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = user
        if lifetime is not None:
            self.expiry[token] = time.time() + lifetime
        return token

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)
        self.refresh_tokens.pop(token, None)

    def grant(self, user: str, client_id: str, client_secret: str | None = None) -> str:
        """Register the client and return a refresh token of ``user`` for it."""
        self.clients[client_id] = client_secret
        refresh = "rt-" + secrets.token_urlsafe(24)
        self.refresh_tokens[refresh] = (user, client_id)
        return refresh

    def _app(self, environ, start_response):
        request = Request(environ)
        if request.path == "/token":
            status, body = self._token(request.form)
        else:
            status, body = 200, self._introspect(request.form.get("token", ""))
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        return response(environ, start_response)

    def _introspect(self, token: str) -> dict[str, str]:
        self.requests += 1
        user = self.tokens.get(token)
        if user is None and self.lookup is not None:
            user = self.lookup(token)
        if user is None or self.expiry.get(token, float("inf")) < time.time():
            return {"active": "false"}
        return {"active": "true", "username": user}

    def _token(self, form) -> tuple[int, dict[str, object]]:
        self.token_requests += 1
        client_id = form.get("client_id", "")
        if client_id not in self.clients or (
                self.clients[client_id] is not None
                and form.get("client_secret") != self.clients[client_id]):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        entry = self.refresh_tokens.get(form.get("refresh_token", ""))
        if entry is None or entry[1] != client_id:
            return 400, {"error": "invalid_grant", "error_description": "unknown refresh token"}
        body: dict[str, object] = {"access_token": self.issue(entry[0], self.lifetime),
                                   "token_type": "Bearer", "expires_in": int(self.lifetime)}
        if self.rotate:
            del self.refresh_tokens[form["refresh_token"]]
            body["refresh_token"] = self.grant(entry[0], client_id, self.clients[client_id])
        return 200, body

    def __enter__(self) -> IntrospectionServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
