"""The data behind the Graph double: mailboxes, folders, items and their change log.

Every change (create, update, move, delete) takes the next number of one tenant-wide
sequence. A delta token is that number (plus the mailbox's sync-state generation): a
round returns what changed after it, and tombstones (``@removed``) for what left the
collection. Paging is keyset-ordered by item id inside a fixed snapshot, so items that
change while a client pages show up in the next round, as Exchange does.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

WELL_KNOWN = {"inbox": "Inbox", "sentitems": "Sent Items", "drafts": "Drafts",
              "deleteditems": "Deleted Items", "archive": "Archive"}


@dataclass
class Item:
    """One message, event or contact; ``container`` is a folder id, ``calendar`` or ``contacts``."""

    id: str
    container: str
    data: dict[str, Any]
    seq: int


@dataclass
class Tombstone:
    id: str
    container: str
    seq: int


@dataclass
class FakeMailbox:
    address: str
    user_id: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    tombstones: list[Tombstone] = field(default_factory=list)
    #: bumped to invalidate every delta and skip token (Exchange lost the sync state)
    generation: int = 0

    def folder_id(self, name_or_id: str) -> str | None:
        """Resolve a folder id or well-known name (``inbox``, ``sentitems``)."""
        if name_or_id in self.folders:
            return name_or_id
        for folder in self.folders.values():
            if folder.get("wellKnownName") == name_or_id.lower():
                return folder["id"]
        return None


def encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    padded = token + "=" * (-len(token) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode()))


class GraphData:
    """All mailboxes of the fake tenant; every method is thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, FakeMailbox] = {}
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        #: called with (mailbox, container, change type, item id) after each change
        self.listeners: list[Any] = []

    # -- mailboxes -------------------------------------------------------------------------

    def add_mailbox(self, address: str) -> FakeMailbox:
        with self.lock:
            box = FakeMailbox(address=address.lower(), user_id=str(uuid.uuid4()))
            for well_known, display in WELL_KNOWN.items():
                fid = self.new_id("F")
                box.folders[fid] = {"id": fid, "displayName": display,
                                    "wellKnownName": well_known, "parentFolderId": "root"}
            self.mailboxes[box.address] = box
            return box

    def mailbox(self, user: str) -> FakeMailbox | None:
        """Find a mailbox by address (UPN) or user id, as Graph's ``/users/{id}`` does."""
        with self.lock:
            box = self.mailboxes.get(user.lower())
            if box is None:
                box = next((b for b in self.mailboxes.values() if b.user_id == user), None)
            return box

    def add_folder(self, address: str, display_name: str) -> str:
        with self.lock:
            box = self.mailboxes[address.lower()]
            fid = self.new_id("F")
            box.folders[fid] = {"id": fid, "displayName": display_name, "wellKnownName": None,
                                "parentFolderId": "root"}
            self._seq_bump()
            return fid

    def new_id(self, prefix: str = "AAMk") -> str:
        # Immutable-id-like: base64-ish, unique, never reused (sorting by it is stable).
        return f"{prefix}{next(self._ids):09d}="

    def _seq_bump(self) -> int:
        return next(self._seq)

    # -- changes ---------------------------------------------------------------------------

    def put(self, address: str, container: str, data: dict[str, Any]) -> str:
        """Create or update an item; returns its id."""
        with self.lock:
            box = self.mailboxes[address.lower()]
            item_id = data.get("id") or self.new_id()
            data = {**data, "id": item_id}
            change = "updated" if item_id in box.items else "created"
            box.items[item_id] = Item(item_id, container, data, self._seq_bump())
        self._notify(box, container, change, item_id)
        return item_id

    def update(self, address: str, item_id: str, **fields: Any) -> None:
        with self.lock:
            box = self.mailboxes[address.lower()]
            item = box.items[item_id]
            item.data.update(fields)
            item.seq = self._seq_bump()
        self._notify(box, item.container, "updated", item_id)

    def move(self, address: str, item_id: str, container: str) -> None:
        """Move an item; with immutable ids its id stays the same."""
        with self.lock:
            box = self.mailboxes[address.lower()]
            item = box.items[item_id]
            box.tombstones.append(Tombstone(item_id, item.container, self._seq_bump()))
            old = item.container
            item.container = container
            item.data["parentFolderId"] = container
            item.seq = self._seq_bump()
        self._notify(box, old, "deleted", item_id)
        self._notify(box, container, "created", item_id)

    def delete(self, address: str, item_id: str) -> None:
        with self.lock:
            box = self.mailboxes[address.lower()]
            item = box.items.pop(item_id)
            box.tombstones.append(Tombstone(item_id, item.container, self._seq_bump()))
        self._notify(box, item.container, "deleted", item_id)

    def _notify(self, box: FakeMailbox, container: str, change: str, item_id: str) -> None:
        for listener in list(self.listeners):
            listener(box, container, change, item_id)

    # -- delta -----------------------------------------------------------------------------

    def delta_page(self, box: FakeMailbox, state: dict[str, Any], size: int,
                   keep=lambda item: True) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Return one page of a delta round and the state of the next page (None: last).

        :param state: ``since`` (sequence of the previous round, 0 for the first),
            ``snap`` (the snapshot sequence, fixed for the round), ``after`` (last id).
        :param keep: filter on live items (``receivedDateTime ge``, calendar window).
        """
        with self.lock:
            since, snap, after = state["since"], state["snap"], state.get("after", "")
            container = state["c"]
            entries: dict[str, dict[str, Any]] = {}
            if since:
                for stone in box.tombstones:
                    if stone.container == container and since < stone.seq <= snap:
                        entries[stone.id] = {"id": stone.id, "@removed": {"reason": "deleted"}}
            for item in box.items.values():
                if item.container == container and since < item.seq <= snap and keep(item):
                    entries[item.id] = dict(item.data)
            ordered = [entries[k] for k in sorted(entries) if k > after]
            page, rest = ordered[:size], ordered[size:]
            if not rest:
                return page, None
            return page, {**state, "after": page[-1]["id"]}

    def current_seq(self) -> int:
        with self.lock:
            seq = next(self._seq)
            return seq


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
