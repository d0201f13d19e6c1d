"""A local Exchange Server double: EWS's SOAP endpoint over TLS on 127.0.0.1.

It answers the operations crmsync's EWS connector sends through exchangelib, in the
shapes of Microsoft's EWS reference (the request/response examples of
https://learn.microsoft.com/exchange/client-developer/web-service-reference/ for
GetFolder, FindFolder, SyncFolderItems, GetItem, Subscribe, GetStreamingEvents and
Unsubscribe; two are kept in ``tests/data/ews/``), with Exchange's semantics:

* ``SyncFolderItems`` returns ids and a few properties, never MIME or recipients, at
  most ``MaxChangesReturned`` changes with ``IncludesLastItemInRange``; a move is a
  Delete in one folder and a Create (with a new ItemId) in the other; a refused sync
  state is ``ErrorInvalidSyncStateData``;
* ``GetItem`` returns ``MimeContent`` (base64) for mail, meeting requests and calendar
  items (an iCalendar object), and contact properties;
* Basic and NTLM authentication, both offered in ``WWW-Authenticate`` as IIS does: NTLM
  runs for real (pyspnego's acceptor, the accounts written to its ``NTLM_USER_FILE``) and
  authenticates the TCP connection over its three legs; a wrong password is HTTP 401,
  logged as operation ``?``; ``ExchangeImpersonation``
  honoured only for a service account granted ApplicationImpersonation
  (``ErrorImpersonateUserDenied`` otherwise), a locked mailbox
  (``ErrorMailboxStoreUnavailable``), an unknown one (``ErrorNonExistentMailbox``);
* ``ErrorServerBusy`` with ``BackOffMilliseconds`` (:meth:`EwsDouble.busy`): requests that
  come back before the back-off has passed are refused again, and counted;
* streaming notifications: a held, chunked response carrying one SOAP envelope per
  notification and a final ``ConnectionStatus`` ``Closed``; switches to close each
  connection early (``max_connection_seconds``), refuse streaming (``refuse_streaming``)
  and drop a mailbox's subscriptions (:meth:`EwsDouble.expire_streaming`, then
  ``ErrorInvalidSubscription``).

Every request is logged in :attr:`EwsDouble.requests` (operation, user, mailbox).
"""

from __future__ import annotations

import base64
import itertools
import os
import queue
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import spnego
import trustme
from flask import Flask, Response, request
from lxml import etree
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.fakes import ews_calendar_writes as calendar_writes
from tests.fakes.ews_data import EwsFolder, EwsItem, EwsMailbox

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NS = {"s": SOAP, "m": MNS, "t": TNS}
#: Exchange 2016 CU23, as its ServerVersionInfo header says
SERVER_VERSION = (f'<h:ServerVersionInfo xmlns:h="{TNS}" MajorVersion="15" MinorVersion="1" '
                  'MajorBuildNumber="2507" MinorBuildNumber="6" Version="Exchange2016"/>')
#: the largest SyncFolderItems page Exchange returns
MAX_CHANGES = 512
#: the WSGI environ key numbering the request's TCP connection (NTLM signs a connection in)
CONNECTION = "ews_double.connection"
#: what a 401 offers, as an Exchange Server with Basic and Windows authentication does
CHALLENGES = ["Basic realm=\"127.0.0.1\"", "NTLM"]


class SoapFault(Exception):
    """Answer with a SOAP fault (HTTP 500) carrying an EWS response code."""

    def __init__(self, code: str, message: str, back_off_ms: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.back_off_ms = code, message, back_off_ms


@dataclass
class Logged:
    at: float
    operation: str
    user: str
    mailbox: str
    status: int = 200


@dataclass
class Busy:
    """Refuse ``times`` requests with ErrorServerBusy; any request before ``until``
    (the back-off of the last refusal) is refused too, and counted as too early."""

    back_off_ms: int
    times: int
    operation: str | None = None
    until: float = 0.0
    early: int = 0


@dataclass
class Streaming:
    id: str
    mailbox: str
    folder_ids: set[str]
    events: queue.Queue = field(default_factory=queue.Queue)
    connections: int = 0


class EwsDouble:
    """The fake Exchange organization: accounts, mailboxes, grants and fault switches."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, tuple[str, str]] = {}  # username → (password, address)
        self.mailboxes: dict[str, EwsMailbox] = {}
        self.impersonators: dict[str, set[str]] = {}  # service user → addresses
        self.locked: set[str] = set()
        self.busy_faults: list[Busy] = []
        self.requests: list[Logged] = []
        self.streaming: dict[str, Streaming] = {}
        #: (mailbox, MIME) of every mail the double was asked to send
        self.sent: list[tuple[str, bytes]] = []
        #: every calendar write's invitation mode (tests.fakes.ews_calendar_writes)
        self.meeting_messages: list[dict[str, Any]] = []
        #: subscriptions the server dropped (:meth:`expire_streaming`)
        self.expired: set[str] = set()
        self.refuse_streaming = False
        #: seconds a streaming connection is held at most, whatever the client asks
        self.max_connection_seconds: float | None = None
        #: connection number → its NTLM acceptor mid-handshake, or the user it signed in
        self.ntlm: dict[int, Any] = {}
        #: every accepted sign-in: (``basic`` or ``ntlm``, user)
        self.sign_ins: list[tuple[str, str]] = []
        self.ntlm_user_file = os.path.join(tempfile.mkdtemp(prefix="ews-ntlm-"), "users")
        self.app = build_app(self)
        self.ca = trustme.CA()
        self.base_url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> EwsDouble:
        # mail.contoso.com: the EWS host Autodiscover tests name (mapped to 127.0.0.1)
        cert = self.ca.issue_cert("127.0.0.1", "localhost", "mail.contoso.com")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        # pyspnego's NTLM acceptor reads the accounts from the file this variable names
        os.environ["NTLM_USER_FILE"] = self.ntlm_user_file
        self._write_ntlm_users()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True,
                                   request_handler=_ConnectionHandler, ssl_context=context)
        self.base_url = f"https://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for sub in list(self.streaming.values()):
            sub.events.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """The EWS endpoint, as ``--url`` takes it."""
        return f"{self.base_url}/EWS/Exchange.asmx"

    def ca_file(self, directory) -> str:
        path = directory / "ews-double-ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    # -- organization ----------------------------------------------------------------------

    def add_user(self, username: str, password: str, address: str | None = None) -> EwsMailbox:
        """An account that signs in as ``username`` and owns the mailbox ``address``."""
        address = (address or username).lower()
        with self.lock:
            self.users[username.lower()] = (password, address)
            self._write_ntlm_users()
            return self.mailbox(address)

    def _write_ntlm_users(self) -> None:
        """Write every account for NTLM: ``DOMAIN:user:password`` or ``:user@domain:password``."""
        lines = []
        for username, (password, _) in self.users.items():
            domain, _, user = username.rpartition("\\")
            lines.append(f"{domain}:{user}:{password}\n")
        with open(self.ntlm_user_file, "w", encoding="utf-8") as out:
            out.writelines(lines)

    def mailbox(self, address: str) -> EwsMailbox:
        with self.lock:
            address = address.lower()
            if address not in self.mailboxes:
                self.mailboxes[address] = EwsMailbox(address, self.lock, self._on_change)
            return self.mailboxes[address]

    def grant_impersonation(self, service_user: str, *addresses: str) -> None:
        """Give ``service_user`` the ApplicationImpersonation role over ``addresses``."""
        with self.lock:
            self.impersonators.setdefault(service_user.lower(), set()).update(
                a.lower() for a in addresses)

    def busy(self, back_off_ms: int, times: int = 1, operation: str | None = None) -> Busy:
        fault = Busy(back_off_ms, times, operation)
        with self.lock:
            self.busy_faults.append(fault)
        return fault

    def operations(self, mailbox: str | None = None) -> list[str]:
        with self.lock:
            return [r.operation for r in self.requests
                    if mailbox is None or r.mailbox == mailbox.lower()]

    # -- notifications ---------------------------------------------------------------------

    def expire_streaming(self, address: str) -> int:
        """Drop ``address``'s streaming subscriptions, as a lapse, a mailbox move or a
        server restart does: their open connections end, and asking for their events
        answers ``ErrorInvalidSubscription``. Returns how many were dropped."""
        with self.lock:
            dropped = [s for s in self.streaming.values() if s.mailbox == address.lower()]
            for sub in dropped:
                del self.streaming[sub.id]
                self.expired.add(sub.id)
                sub.events.put(None)
        return len(dropped)

    def subscriptions(self, address: str) -> int:
        """How many streaming subscriptions ``address`` has now."""
        with self.lock:
            return sum(1 for s in self.streaming.values() if s.mailbox == address.lower())

    def _on_change(self, box: EwsMailbox, folder_id: str, change: str, item_id: str) -> None:
        event = {"Create": "CreatedEvent", "Delete": "DeletedEvent"}.get(change, "ModifiedEvent")
        for sub in list(self.streaming.values()):
            if sub.mailbox == box.address and folder_id in sub.folder_ids:
                sub.events.put((event, item_id, folder_id))
                if change == "Create":
                    sub.events.put(("NewMailEvent", item_id, folder_id))


@dataclass
class Call:
    """One request: who signed in, which mailbox it acts on, and its body element."""

    user: str
    address: str
    body: Any
    impersonating: bool


def build_app(double: EwsDouble) -> Flask:
    app = Flask("ews-double")

    @app.post("/EWS/Exchange.asmx")
    def ews() -> Response:
        request.get_data()  # read the body first: an unread one makes the server close
        user = _authenticate(double)
        if isinstance(user, Response):  # a challenge, or a refused sign-in (logged)
            return user
        try:
            root = etree.fromstring(request.get_data(), etree.XMLParser(resolve_entities=False))
            operation = root.find("s:Body", NS)[0]
        except (etree.XMLSyntaxError, TypeError, IndexError):
            return _fault_response(SoapFault("ErrorSchemaValidation", "bad request XML"))
        name = etree.QName(operation).localname
        try:
            call = _call(double, user, root, operation)
            double.requests.append(Logged(time.time(), name, user, call.address))
            _throttle(double, name)
            handler = HANDLERS.get(name)
            if handler is None:
                raise SoapFault("ErrorInvalidRequest", f"{name} is not supported here")
            return handler(double, call)
        except SoapFault as fault:
            double.requests.append(Logged(time.time(), name, user, "", 500))
            return _fault_response(fault)

    return app


class _ConnectionHandler(WSGIRequestHandler):
    """Keep connections alive and number them: NTLM signs a connection in, not a request.

    werkzeug serves one request per connection: it answers ``Connection: close`` and,
    after the response, reads whatever the socket still holds (which on a kept-alive
    connection is the next request). Both would end NTLM's handshake after its first leg,
    so here the header is not sent and that last read looks at an idle socket instead;
    :func:`_authenticate` reads every request's body, so the next request line is where
    the connection's reader expects it.
    """

    protocol_version = "HTTP/1.1"
    _numbers = itertools.count(1)

    def setup(self) -> None:
        super().setup()
        self.connection_number = next(self._numbers)
        self._idle, self._idle_peer = socket.socketpair()

    def finish(self) -> None:
        super().finish()
        self._idle.close()
        self._idle_peer.close()

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)

    def run_wsgi(self) -> None:
        real = self.connection
        try:
            super().run_wsgi()
        finally:
            self.connection = real

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ[CONNECTION] = self.connection_number
        self.connection = self._idle  # what run_wsgi drains after the response
        return environ


def _authenticate(double: EwsDouble) -> str | Response:
    """The user signed in on this request or its connection, or the 401 to answer."""
    connection = request.environ.get(CONNECTION, 0)
    request.get_data()  # read the body even when refusing: the connection is kept alive
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "ntlm":
        return _ntlm_step(double, connection, token.strip())
    if scheme.lower() == "basic":
        auth = request.authorization
        username = ((auth.username if auth else "") or "").lower()
        known = double.users.get(username)
        if auth is None or known is None or known[0] != auth.password:
            return _refused(double, username)
        double.sign_ins.append(("basic", username))
        return username
    signed_in = double.ntlm.get(connection)
    if isinstance(signed_in, str):  # NTLM authenticated this connection earlier
        return signed_in
    return _unauthorized()


def _ntlm_step(double: EwsDouble, connection: int, token: str) -> str | Response:
    """One leg of NTLM: NEGOTIATE → CHALLENGE (401), AUTHENTICATE → signed in or refused."""
    try:
        message = base64.b64decode(token)
    except ValueError:
        return _refused(double, "")
    with double.lock:
        context = double.ntlm.get(connection)
        if message[8:9] == b"\x01" or not hasattr(context, "step"):  # NEGOTIATE: start over
            context = spnego.server(protocol="ntlm")
        try:
            answer = context.step(message)
        except spnego.exceptions.SpnegoError:
            double.ntlm.pop(connection, None)
            return _refused(double, "")
        if not context.complete:
            double.ntlm[connection] = context
            return Response("", 401, [("WWW-Authenticate", "NTLM " + base64.b64encode(
                answer or b"").decode())])
        user = (context.client_principal or "").lower()
        if user not in double.users:
            double.ntlm.pop(connection, None)
            return _refused(double, user)
        double.ntlm[connection] = user
        double.sign_ins.append(("ntlm", user))
        return user


def _unauthorized() -> Response:
    return Response("", 401, [("WWW-Authenticate", c) for c in CHALLENGES])


def _refused(double: EwsDouble, username: str) -> Response:
    """Refuse a sign-in (wrong user name or password); logged as operation ``?``."""
    double.requests.append(Logged(time.time(), "?", username, "", 401))
    return _unauthorized()


def _call(double: EwsDouble, user: str, root: Any, operation: Any) -> Call:
    own = double.users[user][1]
    target = root.findtext("s:Header/t:ExchangeImpersonation/t:ConnectingSID/"
                           "t:PrimarySmtpAddress", namespaces=NS)
    if target:
        target = target.lower()
        if target not in double.impersonators.get(user, set()):
            raise SoapFault("ErrorImpersonateUserDenied",
                            "The account does not have permission to impersonate the "
                            "requested user.")
        address = target
    else:
        mailbox = operation.findtext(".//t:DistinguishedFolderId/t:Mailbox/t:EmailAddress",
                                     namespaces=NS)
        address = (mailbox or own).lower()
        if address != own:
            raise SoapFault("ErrorAccessDenied", "Access is denied. Check credentials and "
                            "try again.")
    if address in double.locked:
        raise SoapFault("ErrorMailboxStoreUnavailable",
                        "The mailbox database is temporarily unavailable.")
    if address not in double.mailboxes:
        raise SoapFault("ErrorNonExistentMailbox",
                        f"The SMTP address has no mailbox associated with it: {address}")
    return Call(user, address, operation, bool(target))


def _throttle(double: EwsDouble, operation: str) -> None:
    with double.lock:
        now = time.monotonic()
        for fault in double.busy_faults:
            if fault.operation not in (None, operation):
                continue
            if now < fault.until:
                fault.early += 1
                raise SoapFault("ErrorServerBusy", "The server cannot service this request "
                                "right now. Try again later.",
                                max(1, int((fault.until - now) * 1000)))
            if fault.times > 0:
                fault.times -= 1
                fault.until = now + fault.back_off_ms / 1000
                raise SoapFault("ErrorServerBusy", "The server cannot service this request "
                                "right now. Try again later.", fault.back_off_ms)


# -- envelopes ----------------------------------------------------------------------------------


def envelope(body: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>'
            f'<s:Envelope xmlns:s="{SOAP}"><s:Header>{SERVER_VERSION}</s:Header>'
            f"<s:Body>{body}</s:Body></s:Envelope>")


def _xml(body: str) -> Response:
    return Response(envelope(body), 200, content_type="text/xml; charset=utf-8")


def _response(operation: str, messages: list[str]) -> Response:
    return _xml(f'<m:{operation}Response xmlns:m="{MNS}" xmlns:t="{TNS}">'
                f'<m:ResponseMessages>{"".join(messages)}</m:ResponseMessages>'
                f"</m:{operation}Response>")


def _success(operation: str, inner: str) -> str:
    return (f'<m:{operation}ResponseMessage ResponseClass="Success">'
            f"<m:ResponseCode>NoError</m:ResponseCode>{inner}"
            f"</m:{operation}ResponseMessage>")


def _error(operation: str, code: str, message: str, extra: str = "") -> str:
    return (f'<m:{operation}ResponseMessage ResponseClass="Error">'
            f"<m:MessageText>{escape(message)}</m:MessageText>"
            f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0"
            f"</m:DescriptiveLinkKey>{extra}</m:{operation}ResponseMessage>")


def _fault_response(fault: SoapFault) -> Response:
    extra = ""
    if fault.back_off_ms is not None:
        extra = (f'<t:MessageXml xmlns:t="{TNS}"><t:Value Name="BackOffMilliseconds">'
                 f"{fault.back_off_ms}</t:Value></t:MessageXml>")
    body = (f"<s:Fault><faultcode>s:Client</faultcode><faultstring xml:lang=\"en-US\">"
            f"{escape(fault.message)}</faultstring><detail>"
            f'<e:ResponseCode xmlns:e="{ENS}">{fault.code}</e:ResponseCode>'
            f'<e:Message xmlns:e="{ENS}">{escape(fault.message)}</e:Message>{extra}'
            "</detail></s:Fault>")
    return Response(envelope(body), 500, content_type="text/xml; charset=utf-8")


# -- folders ------------------------------------------------------------------------------------


def _folder_xml(folder: EwsFolder, box: EwsMailbox) -> str:
    count = sum(1 for item in box.items.values() if item.folder_id == folder.id)
    unread = sum(1 for item in box.items.values()
                 if item.folder_id == folder.id and not item.is_read)
    parent = (f'<t:ParentFolderId Id="{folder.parent_id}" ChangeKey="AQAAAA=="/>'
              if folder.parent_id else "")
    distinguished = (f"<t:DistinguishedFolderId>{folder.distinguished}</t:DistinguishedFolderId>"
                     if folder.distinguished else "")
    folder_class = {"calendar": "IPF.Appointment", "contacts": "IPF.Contact"}.get(
        folder.kind, "IPF.Note")
    return (f"<t:{folder.element}>"
            f'<t:FolderId Id="{folder.id}" ChangeKey="AQAAAA=="/>{parent}'
            f"<t:FolderClass>{folder_class}</t:FolderClass>"
            f"<t:DisplayName>{escape(folder.name)}</t:DisplayName>"
            f"<t:TotalCount>{count}</t:TotalCount>"
            f"<t:ChildFolderCount>{len(box.children(folder.id, False))}</t:ChildFolderCount>"
            f"{distinguished}<t:UnreadCount>{unread}</t:UnreadCount>"
            f"</t:{folder.element}>")


def _folder_ref(box: EwsMailbox, element: Any) -> EwsFolder:
    local = etree.QName(element).localname
    key = element.get("Id")
    if local == "DistinguishedFolderId":
        return box.folders[box.folder_id(key)]
    if key in box.folders:
        return box.folders[key]
    raise KeyError(key)


def _folder_elements(operation: Any, path: str) -> list[Any]:
    container = operation.find(path, NS)
    return [] if container is None else list(container)


def _folder_not_found(operation: str) -> str:
    return _error(operation, "ErrorFolderNotFound",
                  "The specified folder could not be found in the store.")


def get_folder(double: EwsDouble, call: Call) -> Response:
    box = double.mailboxes[call.address]
    messages = []
    with double.lock:
        for element in _folder_elements(call.body, "m:FolderIds"):
            try:
                folder = _folder_ref(box, element)
            except KeyError:
                messages.append(_folder_not_found("GetFolder"))
                continue
            messages.append(_success("GetFolder",
                                     f"<m:Folders>{_folder_xml(folder, box)}</m:Folders>"))
    return _response("GetFolder", messages)


def find_folder(double: EwsDouble, call: Call) -> Response:
    box = double.mailboxes[call.address]
    deep = call.body.get("Traversal") == "Deep"
    view = call.body.find("m:IndexedPageFolderView", NS)
    offset = int(view.get("Offset", "0")) if view is not None else 0
    limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
    messages = []
    with double.lock:
        for element in _folder_elements(call.body, "m:ParentFolderIds"):
            try:
                parent = _folder_ref(box, element)
            except KeyError:
                messages.append(_folder_not_found("FindFolder"))
                continue
            found = [f for f in box.children(parent.id, deep) if _matches(f, call.body)]
            page = found[offset:offset + limit]
            last = offset + len(page) >= len(found)
            folders = "".join(_folder_xml(f, box) for f in page)
            messages.append(_success(
                "FindFolder",
                f'<m:RootFolder IndexedPagingOffset="{offset + len(page)}" '
                f'TotalItemsInView="{len(found)}" IncludesLastItemInRange="{_bool(last)}">'
                f"<t:Folders>{folders}</t:Folders></m:RootFolder>"))
    return _response("FindFolder", messages)


def _matches(folder: EwsFolder, operation: Any) -> bool:
    """The one restriction clients send when they look a folder up by name."""
    equal = operation.find("m:Restriction/t:IsEqualTo", NS)
    if equal is None:
        return True
    field = equal.find("t:FieldURI", NS)
    value = equal.find("t:FieldURIOrConstant/t:Constant", NS)
    if field is None or value is None or field.get("FieldURI") != "folder:DisplayName":
        return True
    return folder.name.lower() == (value.get("Value") or "").lower()


# -- items --------------------------------------------------------------------------------------


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _item_id(item: EwsItem) -> str:
    change_key = base64.b64encode(f"CK{item.change_key}".encode()).decode()
    return f'<t:ItemId Id="{item.id}" ChangeKey="{change_key}"/>'


def _flag_status(item: EwsItem) -> str:
    """MAPI PidTagFlagStatus as EWS returns an extended property (mail items only)."""
    if item.kind not in ("Message", "MeetingRequest"):
        return ""
    return ('<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x1090" '
            f'PropertyType="Integer"/><t:Value>{2 if item.flagged else 0}</t:Value>'
            "</t:ExtendedProperty>")


def _item_summary(item: EwsItem) -> str:
    """What SyncFolderItems returns for an item: its id and a few properties."""
    # IsRead is a message property: calendar items and contacts have none.
    read = (f"<t:IsRead>{_bool(item.is_read)}</t:IsRead>"
            if item.kind in ("Message", "MeetingRequest") else "")
    return f"<t:{item.kind}>{_item_id(item)}{read}{_flag_status(item)}</t:{item.kind}>"


def _item_full(item: EwsItem, box: EwsMailbox) -> str:
    """What GetItem returns: MIME for mail and calendar items, properties for contacts."""
    parts = [_item_id(item),
             f'<t:ParentFolderId Id="{item.folder_id}" ChangeKey="AQAAAA=="/>']
    if item.mime:
        encoded = base64.b64encode(item.mime).decode()
        parts.append(f'<t:MimeContent CharacterSet="UTF-8">{encoded}</t:MimeContent>')
    item_class = {"Message": "IPM.Note", "MeetingRequest": "IPM.Schedule.Meeting.Request",
                  "CalendarItem": "IPM.Appointment", "Contact": "IPM.Contact"}[item.kind]
    parts.append(f"<t:ItemClass>{item_class}</t:ItemClass>")
    if "subject" in item.props:
        parts.append(f"<t:Subject>{escape(str(item.props['subject']))}</t:Subject>")
    parts.append(f"<t:DateTimeReceived>{_iso(item.received)}</t:DateTimeReceived>")
    parts.append(f"<t:Size>{len(item.mime) or 512}</t:Size>")
    if item.kind in ("Message", "MeetingRequest"):
        parts.append(f"<t:IsRead>{_bool(item.is_read)}</t:IsRead>")
        parts.append(_flag_status(item))
    if item.kind == "CalendarItem":
        parts.append(calendar_writes.calendar_fields(item))
        parts.append(f"<t:UID>{escape(str(item.props.get('uid', item.id)))}</t:UID>")
        parts.append("<t:CalendarItemType>"
                     f"{item.props.get('calendar_item_type', 'Single')}</t:CalendarItemType>")
    if item.kind == "Contact":
        parts.append(_contact_xml(item.props))
    return f"<t:{item.kind}>{''.join(parts)}</t:{item.kind}>"


def _contact_xml(props: dict[str, object]) -> str:
    parts = []
    for key, element in (("file_as", "FileAs"), ("display_name", "DisplayName"),
                         ("given_name", "GivenName"), ("company_name", "CompanyName")):
        if props.get(key):
            parts.append(f"<t:{element}>{escape(str(props[key]))}</t:{element}>")
    emails = props.get("emails") or []
    if emails:
        # Exchange 2010 SP2 and later name each entry's routing type: an internal user
        # picked from the address list is an EX address (/o=...), not SMTP.
        entries = "".join(
            f'<t:Entry Key="EmailAddress{n}" '
            f'RoutingType="{"EX" if str(a).startswith("/") else "SMTP"}">'
            f"{escape(str(a))}</t:Entry>"
            for n, a in enumerate(emails, start=1))  # type: ignore[arg-type]
        parts.append(f"<t:EmailAddresses>{entries}</t:EmailAddresses>")
    phones = props.get("phones") or []
    if phones:
        keys = ("BusinessPhone", "MobilePhone", "HomePhone")
        entries = "".join(f'<t:Entry Key="{k}">{escape(str(p))}</t:Entry>'
                          for k, p in zip(keys, phones, strict=False))  # type: ignore[arg-type]
        parts.append(f"<t:PhoneNumbers>{entries}</t:PhoneNumbers>")
    for key, element in (("job_title", "JobTitle"), ("surname", "Surname")):
        if props.get(key):
            parts.append(f"<t:{element}>{escape(str(props[key]))}</t:{element}>")
    return "".join(parts)


def get_item(double: EwsDouble, call: Call) -> Response:
    box = double.mailboxes[call.address]
    messages = []
    with double.lock:
        for element in _folder_elements(call.body, "m:ItemIds"):
            if etree.QName(element).localname == "OccurrenceItemId":
                messages.append(calendar_writes.get_occurrence(box, element, _success, _error,
                                                               _item_id))
                continue
            item = box.items.get(element.get("Id", ""))
            if item is None:
                messages.append(_error("GetItem", "ErrorItemNotFound",
                                       "The specified object was not found in the store."))
                continue
            messages.append(_success("GetItem", f"<m:Items>{_item_full(item, box)}</m:Items>"))
    return _response("GetItem", messages)


def sync_folder_items(double: EwsDouble, call: Call) -> Response:
    box = double.mailboxes[call.address]
    folder_elements = _folder_elements(call.body, "m:SyncFolderId")
    state = call.body.findtext("m:SyncState", namespaces=NS)
    limit = min(int(call.body.findtext("m:MaxChangesReturned", "100", NS)), MAX_CHANGES)
    with double.lock:
        try:
            folder = _folder_ref(box, folder_elements[0])
        except (KeyError, IndexError):
            return _response("SyncFolderItems", [_folder_not_found("SyncFolderItems")])
        seq = box.read_sync_state(folder, state)
        if seq is None:
            # As Microsoft's example error (tests/data/ews/sync-state/): an empty SyncState
            # and IncludesLastItemInRange follow the code, and exchangelib reads both.
            return _response("SyncFolderItems", [_error(
                "SyncFolderItems", "ErrorInvalidSyncStateData",
                "Synchronization state data is corrupt or otherwise invalid.",
                "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>")])
        changes, position, last = box.changes_since(folder, seq, limit)
        parts = []
        for change, item_id, is_read in changes:
            item = box.items.get(item_id)
            if change == "Delete" or item is None:
                parts.append(f'<t:Delete><t:ItemId Id="{item_id}"/></t:Delete>')
            elif change == "ReadFlagChange":
                parts.append(f"<t:ReadFlagChange>{_item_id(item)}"
                             f"<t:IsRead>{_bool(bool(is_read))}</t:IsRead></t:ReadFlagChange>")
            else:
                parts.append(f"<t:{change}>{_item_summary(item)}</t:{change}>")
        inner = (f"<m:SyncState>{box.sync_state(folder, position)}</m:SyncState>"
                 f"<m:IncludesLastItemInRange>{_bool(last)}</m:IncludesLastItemInRange>"
                 f"<m:Changes>{''.join(parts)}</m:Changes>")
    return _response("SyncFolderItems", [_success("SyncFolderItems", inner)])


# -- streaming notifications --------------------------------------------------------------------


def subscribe(double: EwsDouble, call: Call) -> Response:
    streaming = call.body.find("m:StreamingSubscriptionRequest", NS)
    if streaming is None:
        return _response("Subscribe", [_error(
            "Subscribe", "ErrorInvalidSubscriptionRequest", "Only streaming is offered here.")])
    if double.refuse_streaming:
        return _response("Subscribe", [_error(
            "Subscribe", "ErrorInvalidSubscriptionRequest",
            "Streaming notifications are disabled on this server.")])
    box = double.mailboxes[call.address]
    with double.lock:
        try:
            folders = {_folder_ref(box, e).id
                       for e in _folder_elements(streaming, "t:FolderIds")}
        except KeyError:
            return _response("Subscribe", [_error(
                "Subscribe", "ErrorFolderNotFound", "The specified folder could not be found.")])
        sub = Streaming(str(uuid.uuid4()), call.address, folders)
        double.streaming[sub.id] = sub
    return _response("Subscribe", [_success(
        "Subscribe", f"<m:SubscriptionId>{sub.id}</m:SubscriptionId>")])


def unsubscribe(double: EwsDouble, call: Call) -> Response:
    sub_id = call.body.findtext("m:SubscriptionId", namespaces=NS) or ""
    with double.lock:
        sub = double.streaming.pop(sub_id, None)
    if sub is not None:
        sub.events.put(None)
    return _response("Unsubscribe", [_success("Unsubscribe", "")])


def get_streaming_events(double: EwsDouble, call: Call) -> Response:
    ids = [e.text for e in _folder_elements(call.body, "m:SubscriptionIds")]
    minutes = int(call.body.findtext("m:ConnectionTimeout", "1", NS))
    subs = [double.streaming.get(i or "") for i in ids]
    if any(i in double.expired for i in ids):
        # the shape of the reference's error example: Error, then ConnectionStatus Closed
        return _xml(_streaming_response(
            "<m:ConnectionStatus>Closed</m:ConnectionStatus>",
            ("ErrorInvalidSubscription", "The subscription is no longer valid.")))
    if not subs or any(s is None for s in subs):
        return _response("GetStreamingEvents", [_error(
            "GetStreamingEvents", "ErrorSubscriptionNotFound",
            "The specified subscription was not found.")])
    sub = subs[0]
    assert sub is not None
    sub.connections += 1
    seconds = minutes * 60.0
    if double.max_connection_seconds is not None:
        seconds = min(seconds, double.max_connection_seconds)

    def stream() -> Iterator[bytes]:
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                first = sub.events.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if first is None:
                break
            events = [first]
            while not sub.events.empty():
                more = sub.events.get_nowait()
                if more is None:
                    break
                events.append(more)
            yield _notification(sub.id, events).encode()
        yield envelope(_streaming_response(
            "<m:ConnectionStatus>Closed</m:ConnectionStatus>")).encode()

    return Response(stream(), 200, content_type="text/xml; charset=utf-8")


def _streaming_response(inner: str, error: tuple[str, str] | None = None) -> str:
    message = (_success("GetStreamingEvents", inner) if error is None else
               _error("GetStreamingEvents", *error).replace(
                   "</m:GetStreamingEventsResponseMessage>",
                   f"{inner}</m:GetStreamingEventsResponseMessage>"))
    return (f'<m:GetStreamingEventsResponse xmlns:m="{MNS}" xmlns:t="{TNS}">'
            "<m:ResponseMessages>"
            f"{message}"
            "</m:ResponseMessages></m:GetStreamingEventsResponse>")


def _notification(sub_id: str, events: list[tuple[str, str, str]]) -> str:
    stamp = _iso(datetime.now(UTC))
    parts = "".join(
        f"<t:{kind}><t:TimeStamp>{stamp}</t:TimeStamp>"
        f'<t:ItemId Id="{item_id}" ChangeKey="CQAAAA=="/>'
        f'<t:ParentFolderId Id="{folder_id}" ChangeKey="AQAAAA=="/></t:{kind}>'
        for kind, item_id, folder_id in events)
    return envelope(_streaming_response(
        f"<m:Notifications><m:Notification><t:SubscriptionId>{escape(sub_id)}"
        f"</t:SubscriptionId>{parts}</m:Notification></m:Notifications>"
        "<m:ConnectionStatus>OK</m:ConnectionStatus>"))


def create_item(double: EwsDouble, call: Call) -> Response:
    """Send (``SendOnly`` / ``SendAndSaveCopy``) or save mail given as MIME."""
    box = double.mailboxes[call.address]
    disposition = call.body.get("MessageDisposition", "SaveOnly")
    saved = call.body.find("m:SavedItemFolderId", NS)
    messages = []
    with double.lock:
        for element in _folder_elements(call.body, "m:Items"):
            if etree.QName(element).localname == "CalendarItem":
                messages.append(_success("CreateItem", calendar_writes.create_calendar_item(
                    double, call, box, element, _item_id)))
                continue
            encoded = element.findtext("t:MimeContent", namespaces=NS)
            if etree.QName(element).localname != "Message" or not encoded:
                messages.append(_error("CreateItem", "ErrorInvalidRequest",
                                       "Only messages given as MimeContent are handled here."))
                continue
            mime = base64.b64decode(encoded)
            if disposition.startswith("Send"):
                double.sent.append((call.address, mime))
            if disposition != "SendOnly":
                folder = (_folder_ref(box, saved[0]) if saved is not None and len(saved)
                          else box.folders[box.folder_id("drafts" if disposition == "SaveOnly"
                                                         else "sentitems")])
                box.add_item(folder.id, mime=mime, is_read=True)
            messages.append(_success("CreateItem", "<m:Items/>"))
    return _response("CreateItem", messages)


def update_item(double: EwsDouble, call: Call) -> Response:
    """UpdateItem of calendar items (:mod:`tests.fakes.ews_calendar_writes`)."""
    with double.lock:
        return _response("UpdateItem", calendar_writes.update_item(
            double, call, double.mailboxes[call.address], _item_id, _success, _error))


def delete_item(double: EwsDouble, call: Call) -> Response:
    """DeleteItem of calendar items (:mod:`tests.fakes.ews_calendar_writes`)."""
    with double.lock:
        return _response("DeleteItem", calendar_writes.delete_item(
            double, call, double.mailboxes[call.address], _success, _error))


def find_item(double: EwsDouble, call: Call) -> Response:
    """FindItem by crmsync's extended property (:mod:`tests.fakes.ews_calendar_writes`)."""
    with double.lock:
        return _response("FindItem", [calendar_writes.find_items(
            double.mailboxes[call.address], call.body, _success, _item_id)])


HANDLERS = {
    "FindItem": find_item,
    "UpdateItem": update_item,
    "DeleteItem": delete_item,
    "CreateItem": create_item,
    "GetFolder": get_folder,
    "FindFolder": find_folder,
    "GetItem": get_item,
    "SyncFolderItems": sync_folder_items,
    "Subscribe": subscribe,
    "Unsubscribe": unsubscribe,
    "GetStreamingEvents": get_streaming_events,
}


# Contact writes (a rep's CRM contact folder) live in a module of their own.
from tests.fakes.ews_contact_writes import install as _install_contact_writes  # noqa: E402

_install_contact_writes(HANDLERS)
