"""A local Microsoft Graph double: a Flask app served over TLS on 127.0.0.1.

It follows Microsoft's documented wire format, with the shapes of the examples in the
Graph documentation (https://learn.microsoft.com/graph/delta-query-messages,
https://learn.microsoft.com/graph/delta-query-events,
https://learn.microsoft.com/graph/api/message-get, .../api/eventmessage-get and
.../api/contact-get; one is kept in ``tests/data/graph/``): the Entra ID token endpoint
and OpenID metadata msal reads (the browser sign-ins and admin consent:
:mod:`tests.fakes.graph_signin`), ``mailFolders/delta``, ``messages/delta``,
``calendarView/delta`` and ``contacts/delta`` with ``@odata.nextLink`` /
``@odata.deltaLink`` paging and ``@removed`` tombstones, ``$batch``, ``sendMail``,
``events``, and ``subscriptions`` with the validation handshake and notification
delivery. Fault switches (:meth:`GraphDouble.add_fault`, :meth:`throttle`, ...) inject
429/410/invalid_grant; every request is counted in :attr:`GraphDouble.requests`.
"""

from __future__ import annotations

import itertools
import queue
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import trustme
from flask import Flask, Response, g, jsonify, request
from werkzeug.serving import make_server

from tests.fakes.graph_client_auth import client_refusal
from tests.fakes.graph_data import FakeMailbox, GraphData, decode_token, encode_token, iso
from tests.fakes.graph_directory import DirectoryState
from tests.fakes.graph_signin import SignInState

#: Exchange Online answers 429 MailboxConcurrency past 4 concurrent requests per mailbox
MAX_IN_FLIGHT = 4
#: Outlook resources (messages, events, contacts): at most 4,230 minutes
MAX_SUBSCRIPTION_MINUTES = 4230
DEFAULT_PAGE_SIZE = 10


@dataclass
class Fault:
    """Answer ``times`` requests that ``match`` with ``status`` and ``body``."""

    match: Callable[[Any], bool]
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    #: seconds to hold the answer back (widens race windows in tests)
    delay: float = 0.0


@dataclass
class Logged:
    at: float
    method: str
    url: str
    user: str | None
    status: int = 0
    batch_item: bool = False


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


class GraphDouble:
    """The fake tenant: its app registrations, mailboxes, subscriptions and faults."""

    tenant = "contoso-tenant-id"

    def __init__(self) -> None:
        self.data = GraphData()
        self.clients: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}
        self.token_errors: dict[str, tuple[str, str]] = {}
        self.denied: set[str] = set()
        self.faults: list[Fault] = []
        self.requests: list[Logged] = []
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.lock = threading.Lock()
        self._counter = itertools.count(1)
        self._deliveries: queue.Queue = queue.Queue()
        self.data.listeners.append(self._on_change)
        self.directory = DirectoryState()
        self.signin = SignInState()
        self.delegated_grants: dict[str, Callable[..., Any]] = {}
        self.app = build_app(self)
        self.ca = trustme.CA()
        self.base_url = ""
        self._server = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> GraphDouble:
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, ssl_context=context)
        self.base_url = f"https://127.0.0.1:{self._server.server_port}"
        for target in (self._server.serve_forever, self._deliver_forever):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._deliveries.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    @property
    def graph_url(self) -> str:
        return self.base_url

    def ca_file(self, directory) -> str:
        path = directory / "graph-double-ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    # -- app registrations and mailboxes ---------------------------------------------------

    def register_app(self, client_id: str, secret: str | None = None,
                     certificate_pem: bytes | None = None) -> None:
        """Register an app; with neither secret nor certificate it is a public client."""
        self.clients[client_id] = {"secret": secret, "certificate": certificate_pem}

    def add_mailbox(self, address: str) -> FakeMailbox:
        return self.data.add_mailbox(address)

    def fail_token(self, client_id: str, error: str = "invalid_grant",
                   description: str = "AADSTS700082: The refresh token has expired") -> None:
        """Make the token endpoint refuse ``client_id`` and forget its tokens."""
        self.token_errors[client_id] = (error, description)
        with self.lock:
            for token, owner in list(self.tokens.items()):
                if owner == client_id:
                    del self.tokens[token]

    # -- faults ----------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def throttle(self, times: int, retry_after: str | None, path_contains: str = "/v1.0/",
                 code: str = "TooManyRequests", status: int = 429) -> Fault:
        """The next ``times`` Graph requests get 429 (``Retry-After`` absent if None)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return self.add_fault(Fault(
            match=lambda req: path_contains in req.full_path,
            status=status, times=times, headers=headers,
            body={"error": {"code": code, "message": "Application is over its request limit."}},
        ))

    def gone(self, times: int = 1, token: str = "$deltatoken") -> Fault:
        """The next ``times`` requests carrying ``token`` get 410 syncStateNotFound."""
        return self.add_fault(Fault(
            match=lambda req: token in req.args, status=410, times=times,
            body={"error": {"code": "syncStateNotFound",
                            "message": "The sync state generation is not found."}},
        ))

    def _take_fault(self, req) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match(req):
                    fault.times -= 1
                    return fault
        return None

    # -- request log -----------------------------------------------------------------------

    def graph_requests(self, user: str | None = None) -> list[Logged]:
        """HTTP requests to the Graph API (batch items not counted), optionally for one user."""
        return [r for r in list(self.requests) if r.url.startswith("/v1.0/") and not r.batch_item
                and (user is None or r.user == user)]

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()
            self.max_in_flight.clear()

    # -- notifications ---------------------------------------------------------------------

    def _on_change(self, box: FakeMailbox, container: str, change: str, item_id: str) -> None:
        for sub in list(self.subscriptions.values()):
            if change in sub["changeType"].split(",") and _covers(box, sub, container):
                self._deliveries.put((sub["notificationUrl"], {"value": [{
                    "subscriptionId": sub["id"], "changeType": change,
                    "subscriptionExpirationDateTime": sub["expirationDateTime"],
                    "clientState": sub.get("clientState"), "tenantId": self.tenant,
                    "resource": f"Users/{box.user_id}/Messages/{item_id}",
                    "resourceData": {"@odata.type": "#Microsoft.Graph.Message",
                                     "@odata.id": f"Users/{box.user_id}/Messages/{item_id}",
                                     "id": item_id},
                }]}))

    def send_lifecycle(self, subscription_id: str, event: str) -> None:
        """Deliver a lifecycle notification (``reauthorizationRequired``, ``missed`` ...)."""
        sub = self.subscriptions[subscription_id]
        if event == "subscriptionRemoved":
            self.subscriptions.pop(subscription_id)
        self._deliveries.put((sub.get("lifecycleNotificationUrl") or sub["notificationUrl"], {
            "value": [{"subscriptionId": sub["id"], "lifecycleEvent": event,
                       "subscriptionExpirationDateTime": sub["expirationDateTime"],
                       "clientState": sub.get("clientState"), "tenantId": self.tenant}]}))

    def _deliver_forever(self) -> None:
        with requests.Session() as session:
            while (job := self._deliveries.get()) is not None:
                url, payload = job
                try:
                    session.post(url, json=payload, timeout=10).close()
                except requests.RequestException:
                    pass  # Graph retries for a while, then drops: polling is the safety net

    def validate_endpoint(self, url: str) -> bool:
        """Graph's handshake: POST ``?validationToken=`` and expect it echoed as text."""
        token = secrets.token_urlsafe(16)
        try:
            with requests.post(url, params={"validationToken": token}, timeout=10) as response:
                return response.status_code == 200 and response.text == token
        except requests.RequestException:
            return False


def _covers(box: FakeMailbox, sub: dict[str, Any], container: str) -> bool:
    resource = sub["resource"]
    match = re.match(r"/?(?:users|Users)/([^/]+)/(.*)$", resource)
    if match is None or match.group(1).lower() not in (box.address, box.user_id.lower()):
        return False
    rest = match.group(2)
    folder = re.match(r"mailFolders\('([^']+)'\)/messages", rest)
    if folder:
        return box.folder_id(folder.group(1)) == container
    if rest == "messages":
        return container in box.folders
    if rest == "events":
        return container == "calendar"
    return rest == "contacts" and container == "contacts"


# -- the Flask app -------------------------------------------------------------------------


def build_app(double: GraphDouble) -> Flask:
    app = Flask("graph_double")
    _install_bookkeeping(app, double)
    _install_identity(app, double)
    from tests.fakes.graph_contact_folders import install_contact_folder_routes
    from tests.fakes.graph_directory import install_directory
    from tests.fakes.graph_routes import install_graph_routes
    from tests.fakes.graph_signin import install_signin

    install_graph_routes(app, double)
    install_contact_folder_routes(app, double)
    install_directory(app, double)
    install_signin(app, double)
    return app


def _install_bookkeeping(app: Flask, double: GraphDouble) -> None:
    @app.before_request
    def count_and_limit():
        match = re.match(r"/v1.0/users/([^/]+)", request.path)
        user = match.group(1).lower() if match else None
        box = double.data.mailbox(user) if user else None
        g.user = box.address if box else user
        g.entry = Logged(time.monotonic(), request.method, request.full_path.rstrip("?"),
                         g.user, batch_item=request.headers.get("X-Batch-Item") == "1")
        with double.lock:
            double.requests.append(g.entry)
        if g.user and not g.entry.batch_item:
            with double.lock:
                now = double.in_flight[g.user] = double.in_flight.get(g.user, 0) + 1
                double.max_in_flight[g.user] = max(double.max_in_flight.get(g.user, 0), now)
                g.counted = True
            if now > MAX_IN_FLIGHT:
                return graph_error(429, "ApplicationThrottled",
                                   "MailboxConcurrency: too many concurrent requests",
                                   {"Retry-After": "1"})
        if request.path.startswith("/v1.0/"):
            fault = double._take_fault(request)
            if fault is not None:
                time.sleep(fault.delay)
                response = jsonify(fault.body)
                response.status_code = fault.status
                response.headers.update(fault.headers)
                return response
        return None

    @app.after_request
    def log_status(response: Response):
        g.entry.status = response.status_code
        return response

    @app.teardown_request
    def release(_exc):
        if getattr(g, "counted", False):
            with double.lock:
                double.in_flight[g.user] -= 1


def _install_identity(app: Flask, double: GraphDouble) -> None:
    @app.get("/<tenant>/v2.0/.well-known/openid-configuration")
    def openid_configuration(tenant: str):
        base = f"{double.base_url}/{tenant}"
        return jsonify(
            issuer=f"{double.base_url}/{double.tenant}/v2.0",
            authorization_endpoint=f"{base}/oauth2/v2.0/authorize",
            token_endpoint=f"{base}/oauth2/v2.0/token",
            device_authorization_endpoint=f"{base}/oauth2/v2.0/devicecode",
            jwks_uri=f"{base}/discovery/v2.0/keys",
            response_types_supported=["code", "id_token", "code id_token", "token id_token"],
            scopes_supported=["openid", "profile", "email", "offline_access"],
        )

    @app.post("/<tenant>/oauth2/v2.0/token")
    def token(tenant: str):
        form = request.form
        client_id = form.get("client_id", "")
        client = double.clients.get(client_id)
        if client is None:
            return _token_error("unauthorized_client", f"AADSTS700016: Application {client_id} "
                                "was not found in the directory.", 400)
        if client_id in double.token_errors:
            return _token_error(*double.token_errors[client_id], 400)
        grant = double.delegated_grants.get(form.get("grant_type", ""))
        if grant is not None:  # a user's grants (device code, refresh, authorization code)
            return grant(tenant, form)
        refusal = client_refusal(client, form, client_id,
                                 f"{double.base_url}/{tenant}/oauth2/v2.0/token")
        if refusal is not None:
            return _token_error("invalid_client", refusal, 401)
        access = f"fake-{client_id}-{next(double._counter)}-{secrets.token_hex(8)}"
        with double.lock:
            double.tokens[access] = client_id
        return jsonify(token_type="Bearer", expires_in=3599, ext_expires_in=3599,
                       access_token=access)


def _token_error(error: str, description: str, status: int):
    response = jsonify(error=error, error_description=description,
                       error_codes=[int(re.findall(r"AADSTS(\d+)", description)[0])]
                       if "AADSTS" in description else [])
    response.status_code = status
    return response


def subscription_expiry_ok(requested: str) -> bool:
    when = datetime.fromisoformat(requested.replace("Z", "+00:00"))
    return when <= datetime.now(UTC) + timedelta(minutes=MAX_SUBSCRIPTION_MINUTES)


__all__ = ["Fault", "GraphDouble", "decode_token", "encode_token", "graph_error", "iso"]
