"""The Exchange double's mailboxes: folders, items, and each folder's change journal.

Exchange keeps, per folder, what changed since a sync state; the double keeps a journal
of (sequence, change, item) per folder and hands out sync states that name a point in
it. A state is opaque to the client (base64 of JSON here); one from an older
*generation* of the folder (:meth:`EwsMailbox.invalidate_sync_states`) or that the
double never issued is refused with ``ErrorInvalidSyncStateData``, as Exchange refuses a
state that is corrupt or from before a mailbox move.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: distinguished folder id → (display name, kind, EWS folder element)
DISTINGUISHED: dict[str, tuple[str, str, str]] = {
    "root": ("", "root", "Folder"),
    "msgfolderroot": ("Top of Information Store", "root", "Folder"),
    "inbox": ("Inbox", "mail", "Folder"),
    "sentitems": ("Sent Items", "mail", "Folder"),
    "deleteditems": ("Deleted Items", "mail", "Folder"),
    "drafts": ("Drafts", "mail", "Folder"),
    "calendar": ("Calendar", "calendar", "CalendarFolder"),
    "contacts": ("Contacts", "contacts", "ContactsFolder"),
}

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    """An id in the shape of Exchange's (long, base64, opaque)."""
    raw = f"{prefix}:{next(_ids):08d}:".encode() + b"\x00" * 24
    return base64.b64encode(raw).decode()


@dataclass
class EwsFolder:
    id: str
    name: str
    kind: str  # mail / calendar / contacts / root
    parent_id: str | None
    distinguished: str | None = None
    generation: int = 1
    journal: list[tuple[int, str, str, bool | None]] = field(default_factory=list)

    @property
    def element(self) -> str:
        return {"calendar": "CalendarFolder", "contacts": "ContactsFolder"}.get(
            self.kind, "Folder")


@dataclass
class EwsItem:
    """One item. ``kind`` is the EWS element: Message, MeetingRequest, CalendarItem, Contact."""

    id: str
    folder_id: str
    kind: str
    mime: bytes = b""
    is_read: bool = False
    #: flagged for follow-up (MAPI PidTagFlagStatus 2)
    flagged: bool = False
    received: datetime = field(default_factory=lambda: datetime.now(UTC))
    change_key: int = 1
    props: dict[str, object] = field(default_factory=dict)


class EwsMailbox:
    """One Exchange mailbox: its folders by id, its items, and the journals."""

    def __init__(self, address: str, lock: threading.RLock,
                 notify: Callable[[EwsMailbox, str, str, str], None]) -> None:
        self.address = address.lower()
        self.lock = lock
        self.folders: dict[str, EwsFolder] = {}
        self.items: dict[str, EwsItem] = {}
        self._seq = itertools.count(1)
        self._notify = notify
        for distinguished, (name, kind, _element) in DISTINGUISHED.items():
            parent = None if distinguished == "root" else (
                self.folder_id("root") if distinguished == "msgfolderroot"
                else self.folder_id("msgfolderroot"))
            folder = EwsFolder(new_id("F"), name, kind, parent, distinguished)
            self.folders[folder.id] = folder

    # -- folders ---------------------------------------------------------------------------

    def folder_id(self, distinguished: str) -> str:
        for folder in self.folders.values():
            if folder.distinguished == distinguished:
                return folder.id
        raise KeyError(distinguished)

    def folder(self, name_or_distinguished: str) -> EwsFolder:
        """A folder by distinguished id (``inbox``), display name or id."""
        for folder in self.folders.values():
            if name_or_distinguished in (folder.distinguished, folder.name, folder.id):
                return folder
        raise KeyError(name_or_distinguished)

    def add_folder(self, name: str, parent: str = "msgfolderroot", kind: str = "mail") -> str:
        with self.lock:
            folder = EwsFolder(new_id("F"), name, kind, self.folder(parent).id)
            self.folders[folder.id] = folder
            return folder.id

    def children(self, folder_id: str, deep: bool) -> list[EwsFolder]:
        found = [f for f in self.folders.values() if f.parent_id == folder_id]
        if deep:
            for child in list(found):
                found += self.children(child.id, True)
        return found

    # -- items -----------------------------------------------------------------------------

    def add_item(self, folder: str, kind: str = "Message", mime: bytes = b"",
                 is_read: bool = False, **props: object) -> str:
        """Deliver an item to ``folder`` (distinguished id or name); return its ItemId."""
        with self.lock:
            target = self.folder(folder)
            item = EwsItem(new_id("I"), target.id, kind, mime, is_read, props=dict(props))
            self.items[item.id] = item
            self._journal(target, "Create", item.id)
            return item.id

    def set_read(self, item_id: str, is_read: bool) -> None:
        with self.lock:
            item = self.items[item_id]
            item.is_read = is_read
            item.change_key += 1
            self._journal(self.folders[item.folder_id], "ReadFlagChange", item.id, is_read)

    def set_flag(self, item_id: str, flagged: bool) -> None:
        """Flag for follow-up: Exchange reports it as an Update (not a ReadFlagChange)."""
        with self.lock:
            item = self.items[item_id]
            item.flagged = flagged
            item.change_key += 1
            self._journal(self.folders[item.folder_id], "Update", item.id)

    def update_item(self, item_id: str, mime: bytes | None = None, **props: object) -> None:
        with self.lock:
            item = self.items[item_id]
            if mime is not None:
                item.mime = mime
            item.props.update(props)
            item.change_key += 1
            self._journal(self.folders[item.folder_id], "Update", item.id)

    def move_item(self, item_id: str, folder: str) -> str:
        """Move an item: Exchange gives the copy in the target folder a new ItemId."""
        with self.lock:
            item = self.items.pop(item_id)
            self._journal(self.folders[item.folder_id], "Delete", item_id)
            target = self.folder(folder)
            moved = EwsItem(new_id("I"), target.id, item.kind, item.mime, item.is_read,
                            flagged=item.flagged, received=item.received,
                            props=dict(item.props))
            self.items[moved.id] = moved
            self._journal(target, "Create", moved.id)
            return moved.id

    def delete_item(self, item_id: str) -> None:
        with self.lock:
            item = self.items.pop(item_id)
            self._journal(self.folders[item.folder_id], "Delete", item_id)

    def add_calendar_item(self, ics: str | bytes, folder: str = "calendar") -> str:
        """Save an appointment (a single event, or a series master with its exceptions)
        given as iCalendar text; GetItem returns that text as its MimeContent."""
        raw = ics.encode() if isinstance(ics, str) else ics
        return self.add_item(folder, kind="CalendarItem", mime=raw, is_read=True,
                             **calendar_props(raw))

    def update_calendar_item(self, item_id: str, ics: str | bytes) -> None:
        """Change an appointment (moved, shortened, an occurrence cancelled): one Update."""
        raw = ics.encode() if isinstance(ics, str) else ics
        self.update_item(item_id, mime=raw, **calendar_props(raw))

    def add_contact(self, folder: str = "contacts", **props: object) -> str:
        """Save a contact: ``display_name``, ``given_name``, ``surname``, ``company_name``,
        ``job_title``, ``emails`` (SMTP, or EX ``/o=...`` for internal users), ``phones``."""
        return self.add_item(folder, kind="Contact", is_read=True, **props)

    def _journal(self, folder: EwsFolder, change: str, item_id: str,
                 is_read: bool | None = None) -> None:
        folder.journal.append((next(self._seq), change, item_id, is_read))
        self._notify(self, folder.id, change, item_id)

    # -- sync states -----------------------------------------------------------------------

    def invalidate_sync_states(self, folder: str) -> None:
        """Every sync state issued for ``folder`` so far is refused from now on."""
        with self.lock:
            self.folder(folder).generation += 1

    def sync_state(self, folder: EwsFolder, seq: int) -> str:
        raw = json.dumps({"f": folder.id, "g": folder.generation, "s": seq})
        return base64.b64encode(raw.encode()).decode()

    def read_sync_state(self, folder: EwsFolder, state: str | None) -> int | None:
        """The journal position a state names, 0 for none, ``None`` when it is refused."""
        if not state:
            return 0
        try:
            saved = json.loads(base64.b64decode(state, validate=True))
        except (ValueError, TypeError):
            return None
        if saved.get("f") != folder.id or saved.get("g") != folder.generation:
            return None
        return int(saved["s"])

    def changes_since(self, folder: EwsFolder, seq: int, limit: int
                      ) -> tuple[list[tuple[str, str, bool | None]], int, bool]:
        """Changes after ``seq``, at most ``limit`` of them, coalesced per item as
        Exchange does: an item created and changed in the window is one Create, one
        created and deleted is nothing.

        :returns: (changes, the new position, whether the last change is included).
        """
        pending = [entry for entry in folder.journal if entry[0] > seq]
        window, rest = [], pending
        items: dict[str, int] = {}
        position = seq
        for count, entry in enumerate(pending):
            if entry[2] not in items and len(items) >= limit:
                rest = pending[count:]
                break
            items.setdefault(entry[2], len(window))
            window.append(entry)
            position = entry[0]
        else:
            rest = []
        changes: dict[str, tuple[str, str, bool | None]] = {}
        for _seq, change, item_id, is_read in window:
            before = changes.get(item_id)
            if before is None:
                changes[item_id] = (change, item_id, is_read)
            elif before[0] == "Create" and change == "Delete":
                changes[item_id] = ("Gone", item_id, None)
            elif before[0] in ("Create", "Gone"):
                continue
            elif change in ("Update", "Delete"):
                changes[item_id] = (change, item_id, is_read)
            elif before[0] == "ReadFlagChange":
                changes[item_id] = (change, item_id, is_read)
        result = [c for c in changes.values() if c[0] != "Gone"]
        return result, position, not rest


def calendar_props(ics: bytes) -> dict[str, object]:
    """What Exchange keeps beside a calendar item's iCalendar: its UID, whether it is a
    series (``RecurringMaster``) or a ``Single`` appointment, and its subject."""
    import icalendar  # only the calendar tests need it

    events = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    master = next((e for e in events if e.get("RECURRENCE-ID") is None), events[0])
    recurring = master.get("RRULE") is not None or master.get("RDATE") is not None
    return {"uid": str(master.get("UID")), "subject": str(master.get("SUMMARY", "")),
            "calendar_item_type": "RecurringMaster" if recurring else "Single"}
