"""A "connector under test" for each mail system the contract suite runs against.

Like vdirsyncer's storage test fixtures: each handle owns one empty mailbox on its
system, lets a test change it the way a person or a server would (add, delete, flag,
lose the sync state), and builds fresh connectors for it through the registry and
``from_settings``, exactly as the engine does. What a system cannot do is declared in
:attr:`Handle.supports`, so a contract test that needs it runs only on the systems that
declare it (``@pytest.mark.needs``): nothing is skipped, least of all for a missing server.
"""

from __future__ import annotations

import email
import itertools
import mailbox
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from crmsync.connectors import fake
from crmsync.connectors.base import Change, Connector, Page
from crmsync.connectors.registry import load_connector_class
from tests.fakes.ews_server import EwsDouble
from tests.fakes.graph_data import iso
from tests.fakes.graph_server import GraphDouble
from tests.servers.dovecot import DovecotServer, new_user

_names = itertools.count(1)


@dataclass(frozen=True)
class Supports:
    """What the system behind a handle can do (and its connector can report)."""

    #: a message removed from the mailbox is reported as a ``Deletion``
    deletions: bool = True
    #: a flag change on a known message is reported (``FlagsChanged``, or the message
    #: again with the same item id and its new flags, as Graph does)
    flags: bool = True
    #: the system can forget the sync state (UIDVALIDITY change, 410 Gone)
    cursor_expiry: bool = True
    #: a mailbox without any message can be synced (a mail file cannot be empty)
    empty_mailbox: bool = True


@dataclass
class Synced:
    """What draining every resource from some cursors gave."""

    pages: list[Page]
    cursors: dict[str, str]

    @property
    def changes(self) -> list[Change]:
        return [change for page in self.pages for change in page.changes]


def drain(connector: Connector, cursors: Mapping[str, str] | None = None) -> Synced:
    """Sync every resource of ``connector`` to its end, from ``cursors`` (none: first sync)."""
    cursors = dict(cursors or {})
    pages: list[Page] = []
    for resource in connector.list_resources():
        for page in connector.fetch_changes(resource, cursors.get(resource)):
            assert page.resource == resource
            pages.append(page)
            cursors[resource] = page.cursor
    return Synced(pages, cursors)


class Handle:
    """One empty mailbox of one system, and how to build connectors for it.

    :attr name: the handle's id in the test matrix.
    :attr connector_name: the registry name of the connector it tests.
    """

    name = ""
    connector_name = ""
    supports = Supports()

    def __init__(self) -> None:
        self._opened: list[Connector] = []

    @classmethod
    def for_test(cls, request: pytest.FixtureRequest, directory: Path) -> Handle:
        """Make one for a test, asking ``request`` for the servers it needs."""
        return cls()

    def add_message(self, raw: bytes) -> Any:
        """Deliver ``raw`` (RFC 5322 bytes); return a reference for the other methods."""
        raise NotImplementedError

    def delete_message(self, ref: Any) -> None:
        raise NotImplementedError(f"{self.name} does not support deletions")

    def flag_message(self, ref: Any, flag: str) -> None:
        """Add ``flag`` (``\\Flagged`` or ``\\Seen``) to the message."""
        raise NotImplementedError(f"{self.name} does not support flags")

    def expire_cursors(self) -> None:
        raise NotImplementedError(f"{self.name} cannot lose its sync state")

    def settings(self, batch_size: int) -> dict[str, Any]:
        """The stored settings of this mailbox, as ``crmsync mailbox add`` would keep them."""
        raise NotImplementedError

    def secret(self) -> str:
        return ""

    def connector(self, batch_size: int = 100) -> Connector:
        """A fresh connector, built like the engine builds one (registry + from_settings)."""
        cls = load_connector_class(self.connector_name)
        connector = cls.from_settings(self.settings(batch_size), self.secret())
        self._opened.append(connector)
        return connector

    def close(self) -> None:
        for connector in self._opened:
            connector.close()


class FakeHandle(Handle):
    name = connector_name = "fake"
    supports = Supports()

    def __init__(self) -> None:
        super().__init__()
        self.box_name = f"contract-{next(_names)}"
        self.box = fake.mailbox(self.box_name)

    def add_message(self, raw: bytes) -> str:
        return self.box.append(raw)

    def delete_message(self, ref: str) -> None:
        self.box.delete(ref)

    def flag_message(self, ref: str, flag: str) -> None:
        self.box.set_flags(ref, (*self.box.flags(ref), flag))

    def expire_cursors(self) -> None:
        self.box.expire_cursors()

    def settings(self, batch_size: int) -> dict[str, Any]:
        return {"mailbox": self.box_name, "batch_size": batch_size}

    def close(self) -> None:
        super().close()
        fake.forget(self.box_name)


class ImapHandle(Handle):
    """A fresh user on the session's Dovecot (CONDSTORE on), one folder synced.

    Not INBOX: a UIDVALIDITY change is made by renaming the folder, which INBOX cannot be.
    """

    name = connector_name = "imap"
    supports = Supports()
    folder = "Customers"

    @classmethod
    def for_test(cls, request: pytest.FixtureRequest, directory: Path) -> Handle:
        return cls(request.getfixturevalue("dovecot"))

    def __init__(self, server: DovecotServer) -> None:
        super().__init__()
        self.server = server
        self.password = f"pw-{next(_names)}"
        self.user = new_user(server, self.password)
        server.create_folder(self.user, self.folder)

    def add_message(self, raw: bytes) -> int:
        return self.server.append(self.user, self.folder, raw)

    def delete_message(self, ref: int) -> None:
        with self.server.connect(self.user) as client:
            client.select_folder(self.folder)
            client.delete_messages([ref])
            client.expunge()

    def flag_message(self, ref: int, flag: str) -> None:
        with self.server.connect(self.user) as client:
            client.select_folder(self.folder)
            client.add_flags([ref], [flag.encode()])

    def expire_cursors(self) -> None:
        self.server.reset_uidvalidity(self.user, self.folder)

    def settings(self, batch_size: int) -> dict[str, Any]:
        return {"host": self.server.host, "port": self.server.port, "security": "none",
                "username": self.user, "folders": [self.folder], "batch_size": batch_size}

    def secret(self) -> str:
        return self.password


class GraphHandle(Handle):
    """A new mailbox (and app registration) on the Graph double; its inbox only.

    The double holds Graph JSON, not MIME: :func:`graph_message` turns the raw mail into
    the message Exchange would show (Exchange parses the MIME it receives the same way).
    """

    name = connector_name = "graph"
    supports = Supports()

    @classmethod
    def for_test(cls, request: pytest.FixtureRequest, directory: Path) -> Handle:
        return cls(request.getfixturevalue("graph"))  # trusted through REQUESTS_CA_BUNDLE

    def __init__(self, double: GraphDouble) -> None:
        super().__init__()
        self.double = double
        self.address = f"contract{next(_names)}@northwind.example"
        self.client_id = f"contract-app-{next(_names)}"
        double.register_app(self.client_id, secret="s3cret")
        double.add_mailbox(self.address)

    def _box(self):
        return self.double.data.mailbox(self.address)

    def add_message(self, raw: bytes) -> str:
        inbox = self._box().folder_id("inbox")
        return self.double.data.put(self.address, inbox, graph_message(raw))

    def delete_message(self, ref: str) -> None:
        self.double.data.delete(self.address, ref)

    def flag_message(self, ref: str, flag: str) -> None:
        if flag == "\\Seen":
            self.double.data.update(self.address, ref, isRead=True)
        elif flag == "\\Flagged":
            self.double.data.update(self.address, ref, flag={"flagStatus": "flagged"})
        else:
            raise ValueError(f"Graph has no flag {flag!r}")

    def expire_cursors(self) -> None:
        # Exchange lost the sync state: every delta and skip token now answers 410.
        self._box().generation += 1

    def settings(self, batch_size: int) -> dict[str, Any]:
        return {"tenant": self.double.tenant, "client_id": self.client_id,
                "address": self.address, "authority_url": self.double.base_url,
                "graph_url": self.double.base_url, "folders": ["inbox"], "calendar": False,
                "contacts": False, "batch_size": batch_size}

    def secret(self) -> str:
        return "s3cret"


class EwsHandle(Handle):
    """A new mailbox on the Exchange (EWS) double; its Inbox only, Basic over TLS."""

    name = connector_name = "ews"
    supports = Supports()

    @classmethod
    def for_test(cls, request: pytest.FixtureRequest, directory: Path) -> Handle:
        return cls(request.getfixturevalue("ews"))  # trusted through REQUESTS_CA_BUNDLE

    def __init__(self, double: EwsDouble) -> None:
        super().__init__()
        self.double = double
        self.address = f"contract{next(_names)}@northwind.example"
        self.box = double.add_user(self.address, "Exch-pass-1")

    def add_message(self, raw: bytes) -> str:
        return self.box.add_item("inbox", mime=raw)

    def delete_message(self, ref: str) -> None:
        self.box.delete_item(ref)

    def flag_message(self, ref: str, flag: str) -> None:
        if flag == "\\Seen":
            self.box.set_read(ref, True)
        elif flag == "\\Flagged":
            self.box.set_flag(ref, True)
        else:
            raise ValueError(f"Exchange has no flag {flag!r}")

    def expire_cursors(self) -> None:
        # Exchange refuses the sync state (ErrorInvalidSyncStateData), as after a move.
        self.box.invalidate_sync_states("inbox")

    def settings(self, batch_size: int) -> dict[str, Any]:
        return {"url": self.double.url, "username": self.address, "auth": "basic",
                "folders": ["inbox"], "calendar": False, "contacts": False,
                "batch_size": batch_size}

    def secret(self) -> str:
        return "Exch-pass-1"


class _FilesHandle(Handle):
    """Mail files in a test's directory: they cannot say that a message left them, carry
    flags, lose a sync state or be empty."""

    connector_name = "files"
    supports = Supports(deletions=False, flags=False, cursor_expiry=False,
                        empty_mailbox=False)

    @classmethod
    def for_test(cls, request: pytest.FixtureRequest, directory: Path) -> Handle:
        return cls(directory)


class MboxFilesHandle(_FilesHandle):
    """One mbox file that mail is appended to (the cursor is the next message's index)."""

    name = "files-mbox"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.path = directory / "archive.mbox"

    def add_message(self, raw: bytes) -> int:
        box = mailbox.mbox(self.path)
        try:
            key = box.add(mailbox.mboxMessage(raw))
            box.flush()
        finally:
            box.close()
        return key

    def settings(self, batch_size: int) -> dict[str, Any]:
        return {"paths": [str(self.path)], "batch_size": batch_size}


class EmlFilesHandle(_FilesHandle):
    """A directory of ``.eml`` files, one message (and one resource) each."""

    name = "files-eml"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self._numbers = itertools.count(1)

    def add_message(self, raw: bytes) -> Path:
        path = self.directory / f"{next(self._numbers):04d}.eml"
        path.write_bytes(raw)
        return path

    def settings(self, batch_size: int) -> dict[str, Any]:
        return {"paths": [str(p) for p in sorted(self.directory.glob("*.eml"))],
                "batch_size": batch_size}


def graph_message(raw: bytes) -> dict[str, Any]:
    """Return the Graph ``message`` Exchange would show for the MIME mail ``raw``."""
    parsed = email.message_from_bytes(raw, policy=policy.default)
    headers = email.message_from_bytes(raw)  # compat32: raw header values, as Graph gives

    def people(name: str) -> list[dict[str, Any]]:
        header = parsed[name]
        addresses = getattr(header, "addresses", ()) if header is not None else ()
        return [{"emailAddress": {"name": a.display_name, "address": a.addr_spec}}
                for a in addresses if a.addr_spec]

    try:
        sent = parsedate_to_datetime(str(parsed["date"])) if parsed["date"] else None
    except (TypeError, ValueError):
        sent = None
    sent = sent or datetime.now(UTC)
    body_part = parsed.get_body(preferencelist=("plain", "html"))
    content, content_type = "", "text"
    if body_part is not None:
        content = body_part.get_content()
        content_type = "html" if body_part.get_content_subtype() == "html" else "text"
    senders = people("from")
    return {
        "@odata.type": "#microsoft.graph.message",
        "internetMessageId": str(parsed["message-id"] or "").strip() or None,
        "subject": str(parsed["subject"] or ""),
        "from": senders[0] if senders else None,
        "sender": senders[0] if senders else None,
        "toRecipients": people("to"), "ccRecipients": people("cc"), "bccRecipients": [],
        "replyTo": people("reply-to"),
        "sentDateTime": iso(sent), "receivedDateTime": iso(sent),
        "body": {"contentType": content_type, "content": content},
        "hasAttachments": False, "isRead": False, "isDraft": False,
        "flag": {"flagStatus": "notFlagged"}, "importance": "normal",
        "internetMessageHeaders": [{"name": name, "value": str(value)}
                                   for name, value in headers.items()],
    }


#: every handle the contract runs against; each registered connector needs one
#: registered connectors that hold no mail (the contract above is about mail), and the
#: tests that hold them to the same promises (cursors, resync, deletions) instead
WITHOUT_MAIL: dict[str, str] = {
    "caldav": "tests/dav: calendar and address book against a real Radicale",
}
HANDLE_TYPES: tuple[type[Handle], ...] = (
    FakeHandle, ImapHandle, GraphHandle, EwsHandle, MboxFilesHandle, EmlFilesHandle,
)
