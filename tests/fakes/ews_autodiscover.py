"""An organisation's POX Autodiscover hosts: one small TLS server on a loopback address, port 443.

Autodiscover URLs carry no port (``https://autodiscover.<domain>/autodiscover/
autodiscover.xml``), so the server listens on 443 of an address of its own in 127/8 (the
suite runs as root, as its Dovecot and PostgreSQL do); tests map names to that address
with :func:`resolving`, the stand-in resolver crmsync's network check then uses. One
server plays every host name: it answers by ``Host`` and logs each request with the
``Authorization`` it carried, so a test can show that a host was never sent credentials.

Answers follow Microsoft's POX Autodiscover reference (request and response examples at
https://learn.microsoft.com/exchange/client-developer/web-service-reference/pox-autodiscover-request-for-exchange
and .../pox-autodiscover-response-for-exchange): ``Action`` ``settings`` with ``Protocol``
elements of ``Type`` ``EXPR`` / ``EXCH`` carrying ``EwsUrl``, or ``redirectUrl`` /
``redirectAddr``; an HTTP 302 is the other documented redirect.
"""

from __future__ import annotations

import random
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import pytest
import trustme
from flask import Flask, Response, request
from werkzeug.serving import make_server

from crmsync.connectors import network

BASE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
PATH = "/autodiscover/autodiscover.xml"


@dataclass
class Seen:
    """One request as the server saw it."""

    host: str
    email: str
    authorization: str | None


@dataclass
class Reply:
    """What a host answers: ``settings`` (``target`` the EWS URL), ``redirectUrl``,
    ``redirectAddr`` or ``http302`` (``target`` the URL or address)."""

    kind: str
    target: str


class AutodiscoverDouble:
    """The Autodiscover hosts; ``replies`` maps a host name to its :class:`Reply`, others 404."""

    def __init__(self, ca: trustme.CA, names: list[str],
                 accepts: Callable[[str, str], bool]) -> None:
        """:param accepts: whether a Basic user name and password may sign in."""
        self.ca, self.names, self.accepts = ca, names, accepts
        self.replies: dict[str, Reply] = {}
        self.seen: list[Seen] = []
        self.address = ""
        self._server: Any = None

    def start(self) -> AutodiscoverDouble:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*self.names).configure_cert(context)
        app = Flask("autodiscover-double")
        app.add_url_rule(PATH, "autodiscover", self._answer, methods=["POST"])
        for _ in range(20):  # an address of its own: other servers may hold 443 elsewhere
            self.address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.1"
            try:
                self._server = make_server(self.address, 443, app, threaded=True,
                                           ssl_context=context)
                break
            except OSError:
                continue
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def seen_by(self, host: str) -> list[Seen]:
        return [s for s in self.seen if s.host == host]

    def _answer(self) -> Response:
        host = (request.host or "").rpartition(":")[0] or request.host
        body = request.get_data(as_text=True)
        email = body.partition("<EMailAddress>")[2].partition("</EMailAddress>")[0]
        self.seen.append(Seen(host, email, request.headers.get("Authorization")))
        reply = self.replies.get(host)
        if reply is None:
            return Response("Not Found", 404)
        auth = request.authorization
        if auth is None or not self.accepts(auth.username or "", auth.password or ""):
            return Response("", 401, {"WWW-Authenticate": f'Basic realm="{host}"'})
        if reply.kind == "http302":
            return Response("", 302, {"Location": reply.target})
        return Response(response_xml(reply), 200, content_type="text/xml; charset=utf-8")


def response_xml(reply: Reply) -> str:
    """A POX Autodiscover response, shaped as Microsoft's reference example."""
    if reply.kind == "settings":
        account = ("<Action>settings</Action>"
                   "<Protocol><Type>EXCH</Type><Server>MBX01.internal.contoso.com</Server>"
                   f"<EwsUrl>{escape(reply.target)}</EwsUrl></Protocol>"
                   f"<Protocol><Type>EXPR</Type><EwsUrl>{escape(reply.target)}</EwsUrl>"
                   "</Protocol>")
    elif reply.kind == "redirectUrl":
        account = f"<Action>redirectUrl</Action><RedirectUrl>{escape(reply.target)}</RedirectUrl>"
    else:
        account = (f"<Action>redirectAddr</Action>"
                   f"<RedirectAddr>{escape(reply.target)}</RedirectAddr>")
    return (f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{BASE_NS}">'
            f'<Response xmlns="{OUTLOOK_NS}"><User><DisplayName>Rep</DisplayName></User>'
            f"<Account><AccountType>email</AccountType>{account}</Account></Response>"
            "</Autodiscover>")


def resolving(monkeypatch: pytest.MonkeyPatch, table: dict[str, str],
              fake_domains: tuple[str, ...]) -> None:
    """Resolve the names in ``table`` to its addresses; other names in ``fake_domains``
    do not exist (no DNS server is asked); every other name resolves as usual."""
    real = socket.getaddrinfo

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.lower().rstrip(".")
        if name in table:
            return real(table[name], port, *args, **kwargs)
        if any(name == d or name.endswith("." + d) for d in fake_domains):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(network.socket, "getaddrinfo", resolve)
