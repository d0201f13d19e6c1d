"""An in-memory connector: programmable mailboxes that follow the connector contract.

For tests and demos. A :class:`FakeMailbox` holds folders of raw messages that a test
appends to, deletes from and flags, like a mail server would; :class:`FakeConnector`
reads it exactly as the real connectors read theirs (see :mod:`crmsync.connectors.base`):

* one resource per folder, ``INBOX`` first;
* a first sync (no cursor) yields every live message, ``batch_size`` a page;
* a later sync yields what changed after the cursor: new mail (:class:`MailMessage`),
  flag changes (:class:`FlagsChanged`) and deletions (:class:`Deletion`);
* :meth:`FakeMailbox.expire_cursors` is IMAP's UIDVALIDITY change (Graph's 410): every
  item gets a new id and an old cursor starts a full resync, its first page marked
  ``resync`` and carrying a :class:`Deletion` for each id the cursor knew;
* :meth:`FakeMailbox.crash_after` makes a sync fail after a number of pages, as a
  dropped connection does (``TransientError`` by default).

The engine builds a new connector for every run, so mailboxes live in a module-level
registry (:data:`MAILBOXES`) and the connector's settings name one::

    box = fake.mailbox("demo")             # created on first use
    box.append(raw_bytes)                  # -> item id "1:1"
    ... Mailbox(provider="fake", settings={"mailbox": "demo"}) ...

Model (IMAP's, RFC 4549). Every change takes the next number of the mailbox's change
sequence. A cursor is ``fake:<epoch>:<seq>:<uids>`` (opaque to the engine): ``uids`` are the
items already delivered and not since reported deleted, ``seq`` the change number their
flags are known up to. A round, from a snapshot taken when it starts, reports a
:class:`Deletion` for each known item gone, :class:`FlagsChanged` for each known item
whose flags changed after ``seq``, then every live item not known yet, oldest first. A
page's cursor holds exactly what was delivered up to it, so resuming from any page's
cursor neither skips nor repeats an item (a known item's flags may be reported twice
when a round is resumed, which is harmless).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from crmsync.connectors.base import Change, Connector, Deletion, FlagsChanged, Page
from crmsync.connectors.mime import parse_message
from crmsync.errors import ConfigError, CursorExpiredError, TransientError

DEFAULT_FOLDER = "INBOX"
_CURSOR = re.compile(r"fake:(\d+):(\d+):([\d,:]*)")
_ROLES = {"inbox": "inbox", "sent": "sent"}


@dataclass
class _Item:
    """One message of one folder in one epoch."""

    epoch: int
    uid: int
    raw: bytes
    flags: tuple[str, ...]
    #: change number of its last flag change (its creation's when never re-flagged)
    flags_seq: int
    deleted: bool = False

    @property
    def item_id(self) -> str:
        return f"{self.epoch}:{self.uid}"


@dataclass
class _Folder:
    name: str
    epoch: int = 1
    uids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    #: the items of the current epoch by uid, ascending, deleted ones kept as tombstones
    items: dict[int, _Item] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeCursor:
    """A parsed cursor (see the module docstring); tests may read one to check the engine."""

    epoch: int
    seq: int
    uids: frozenset[int]

    def dumps(self) -> str:
        return f"fake:{self.epoch}:{self.seq}:{_format_uids(self.uids)}"

    @classmethod
    def loads(cls, text: str) -> FakeCursor:
        """:raises CursorExpiredError: not a fake cursor."""
        match = _CURSOR.fullmatch(text)
        if match is None:
            raise CursorExpiredError(f"unreadable fake cursor: {text!r}")
        return cls(int(match[1]), int(match[2]), _parse_uids(match[3]))


@dataclass
class _Crash:
    pages: int
    error: BaseException


@dataclass
class _Round:
    """What one ``fetch_changes`` call reports, from one snapshot of the folder."""

    epoch: int
    #: the snapshot's change number: flags are known up to it once the round is done
    last: int
    start: FakeCursor
    #: known items gone or re-flagged (uid, change), by uid
    known: list[tuple[int, Change]]
    #: live items not known yet (uid, record), by uid
    new: list[tuple[int, Change]]
    #: the resync's deletions of every id an old-epoch cursor knew (None: no resync)
    gone: list[Change] | None = None


class FakeMailbox:
    """A programmable in-memory mailbox; every method is thread-safe.

    Item ids are ``"<epoch>:<uid>"``, like IMAP's ``"<uidvalidity>:<uid>"``.
    """

    def __init__(self, name: str, folders: Iterable[str] = (DEFAULT_FOLDER,)) -> None:
        self.name = name
        self._lock = threading.RLock()
        #: the number of the last change
        self._changes = 0
        self._folders: dict[str, _Folder] = {}
        self._crash: _Crash | None = None
        #: pages yielded by every connector of this mailbox so far
        self.pages_served = 0
        for folder in folders:
            self.add_folder(folder)

    # -- programming the mailbox ---------------------------------------------------------

    def add_folder(self, folder: str) -> None:
        with self._lock:
            self._folders.setdefault(folder, _Folder(folder))

    @property
    def folders(self) -> list[str]:
        """Folder names, ``INBOX`` first, then in creation order."""
        with self._lock:
            names = list(self._folders)
        return sorted(names, key=lambda name: name.upper() != DEFAULT_FOLDER)

    def append(self, raw: bytes, folder: str = DEFAULT_FOLDER, flags: Iterable[str] = ()
               ) -> str:
        """Add a message (the folder is created if missing); return its item id."""
        with self._lock:
            self.add_folder(folder)
            box = self._folders[folder]
            item = _Item(box.epoch, next(box.uids), bytes(raw), tuple(flags), self._next())
            box.items[item.uid] = item
            return item.item_id

    def delete(self, item_id: str, folder: str = DEFAULT_FOLDER) -> None:
        """Remove a live message of ``folder`` (expunge).

        :raises KeyError: no live message has that id there.
        """
        with self._lock:
            self._live(item_id, folder).deleted = True
            self._next()

    def set_flags(self, item_id: str, flags: Iterable[str], folder: str = DEFAULT_FOLDER
                  ) -> None:
        """Replace the flags of a live message of ``folder`` (``\\Seen``, keywords ...)."""
        with self._lock:
            item = self._live(item_id, folder)
            item.flags = tuple(flags)
            item.flags_seq = self._next()

    def expire_cursors(self, folder: str = DEFAULT_FOLDER) -> None:
        """Start a new epoch: every live message of ``folder`` gets a new id and cursors
        of the old epoch start a full resync (IMAP's UIDVALIDITY change, Graph's 410)."""
        with self._lock:
            box = self._folders[folder]
            live = [item for item in box.items.values() if not item.deleted]
            box.epoch += 1
            box.uids = itertools.count(1)
            box.items = {}
            for item in live:
                self.append(item.raw, folder, item.flags)

    def crash_after(self, pages: int, error: BaseException | None = None) -> None:
        """Make the next sync raise ``error`` (a ``TransientError`` by default) where it
        would yield its page number ``pages + 1``, counted over every resource; once."""
        with self._lock:
            self._crash = _Crash(pages, error or TransientError("fake: connection lost"))

    def cancel_crash(self) -> bool:
        """Drop a crash that did not happen (the sync needed fewer pages); return whether
        one was pending."""
        with self._lock:
            pending, self._crash = self._crash is not None, None
            return pending

    def live(self, folder: str = DEFAULT_FOLDER) -> dict[str, bytes]:
        """Return item id → raw message of every live message of ``folder``."""
        with self._lock:
            box = self._folders.get(folder)
            items = box.items.values() if box else ()
            return {item.item_id: item.raw for item in items if not item.deleted}

    def flags(self, item_id: str, folder: str = DEFAULT_FOLDER) -> tuple[str, ...]:
        with self._lock:
            return self._live(item_id, folder).flags

    def _next(self) -> int:
        """Return the number of a new change (under the lock)."""
        self._changes += 1
        return self._changes

    def _live(self, item_id: str, folder: str) -> _Item:
        """Return the live item ``item_id`` of ``folder`` (ids are a folder's, as in IMAP)."""
        epoch, _, uid = item_id.partition(":")
        box = self._folders.get(folder)
        item = box.items.get(int(uid)) if box is not None and uid.isdigit() else None
        if item is None or str(box.epoch) != epoch or item.deleted:
            raise KeyError(f"{self.name}: no live message {item_id!r} in {folder!r}")
        return item

    # -- what a connector reads ----------------------------------------------------------

    def _round(self, folder: str, cursor: str | None) -> _Round:
        """Take a snapshot of ``folder``: what a sync from ``cursor`` reports."""
        parsed = FakeCursor.loads(cursor) if cursor is not None else None
        with self._lock:
            box = self._folders.get(folder)
            if box is None:
                raise ConfigError(f"fake mailbox {self.name!r} has no folder {folder!r}")
            if parsed is not None and parsed.epoch > box.epoch:
                raise CursorExpiredError(f"fake cursor from a future epoch: {cursor!r}")
            gone: list[Change] | None = None
            if parsed is not None and parsed.epoch < box.epoch:
                gone = [Deletion(f"{parsed.epoch}:{uid}", folder) for uid in sorted(parsed.uids)]
                parsed = None
            start = parsed or FakeCursor(box.epoch, 0, frozenset())
            known: list[tuple[int, Change]] = []
            new: list[tuple[int, Change]] = []
            for uid in sorted(start.uids - box.items.keys()):  # not ours: gone all the same
                known.append((uid, Deletion(f"{box.epoch}:{uid}", folder)))
            for uid, item in box.items.items():
                if uid in start.uids:
                    if item.deleted:
                        known.append((uid, Deletion(item.item_id, folder)))
                    elif item.flags_seq > start.seq:
                        known.append((uid, FlagsChanged(item.item_id, folder, item.flags)))
                elif not item.deleted:
                    new.append((uid, self._record(item, folder)))
            known.sort(key=lambda pair: pair[0])
            return _Round(box.epoch, self._changes, start, known, new, gone)

    @staticmethod
    def _record(item: _Item, folder: str) -> Change:
        return parse_message(item.raw, item_id=item.item_id, folder=folder, flags=item.flags,
                             folder_role=_ROLES.get(folder.lower()))

    def _serve(self) -> None:
        """Count a page about to be yielded; raise the crash that is due instead."""
        with self._lock:
            crash = self._crash
            if crash is not None and crash.pages <= 0:
                self._crash = None
                raise crash.error
            if crash is not None:
                crash.pages -= 1
            self.pages_served += 1


#: the in-memory mailboxes connectors read, by name (see :func:`mailbox`)
MAILBOXES: dict[str, FakeMailbox] = {}
_registry_lock = threading.Lock()


def mailbox(name: str, folders: Iterable[str] = (DEFAULT_FOLDER,)) -> FakeMailbox:
    """Return the in-memory mailbox ``name``, created (with ``folders``) on first use."""
    with _registry_lock:
        box = MAILBOXES.get(name)
        if box is None:
            box = MAILBOXES[name] = FakeMailbox(name, folders)
        return box


def forget(name: str) -> None:
    """Drop the mailbox ``name`` from the registry (a test's cleanup)."""
    with _registry_lock:
        MAILBOXES.pop(name, None)


class FakeConnector(Connector):
    """Reads one :class:`FakeMailbox`; read-only like the other mail connectors.

    :param box: the mailbox.
    :param batch_size: changes per :class:`Page`.
    :param folders: the resources to sync; all of the mailbox's folders when empty.
    """

    name = "fake"
    supports_delta = True

    def __init__(self, box: FakeMailbox, batch_size: int = 500,
                 folders: Iterable[str] = ()) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, not {batch_size}")
        self.box = box
        self.batch_size = batch_size
        self.folders = tuple(folders)
        self.closed = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], secret: str) -> FakeConnector:
        """See `Connector.from_settings`: ``mailbox`` (a name in :data:`MAILBOXES`),
        optional ``folders``, ``batch_size``, and ``prefetch_pages`` (to be read in the
        engine's prefetch thread); no secret.

        :raises ConfigError: no ``mailbox`` given, or none of that name in this process.
        """
        name = settings.get("mailbox")
        if not name:
            raise ConfigError("fake connector needs 'mailbox'", ["mailbox: an in-memory name"])
        box = MAILBOXES.get(str(name))
        if box is None:
            raise ConfigError(f"no in-memory mailbox named {name!r} in this process")
        connector = cls(box, int(settings.get("batch_size") or 500), settings.get("folders") or ())
        connector.prefetch_pages = bool(settings.get("prefetch_pages"))
        return connector

    def list_resources(self) -> list[str]:
        """See `Connector.list_resources`."""
        return list(self.folders) or self.box.folders

    def fetch_changes(self, resource: str, cursor: str | None) -> Iterator[Page]:
        """See `Connector.fetch_changes`; the cursor format is in the module docstring."""
        snapshot = self.box._round(resource, cursor)
        position = snapshot.start
        if snapshot.gone is not None:
            self.box._serve()
            yield Page(resource, snapshot.gone, position.dumps(), resync=True,
                       stats={"deleted": len(snapshot.gone)})
        changes = snapshot.known + snapshot.new
        known_left = len(snapshot.known)
        uids = set(position.uids)
        for start in range(0, max(len(changes), 1), self.batch_size):
            batch = changes[start:start + self.batch_size]
            for uid, change in batch:
                if isinstance(change, Deletion):
                    uids.discard(uid)
                elif not isinstance(change, FlagsChanged):
                    uids.add(uid)
            known_left -= sum(1 for uid, change in batch if uid in position.uids)
            # Flags are known up to the snapshot once every known item's change is out.
            seq = snapshot.last if known_left <= 0 else position.seq
            self.box._serve()
            yield Page(resource, [change for _, change in batch],
                       FakeCursor(snapshot.epoch, seq, frozenset(uids)).dumps(),
                       stats={"messages": len(batch)})

    def close(self) -> None:
        """See `Connector.close`: nothing to release; remembered for tests."""
        self.closed = True


def _format_uids(uids: Iterable[int]) -> str:
    """Return ``1:3,7`` for {1, 2, 3, 7}."""
    ranges: list[tuple[int, int]] = []
    for uid in sorted(uids):
        if ranges and ranges[-1][1] == uid - 1:
            ranges[-1] = (ranges[-1][0], uid)
        else:
            ranges.append((uid, uid))
    return ",".join(f"{a}:{b}" if a != b else str(a) for a, b in ranges)


def _parse_uids(text: str) -> frozenset[int]:
    uids: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition(":")
        uids.update(range(int(low), int(high or low) + 1))
    return frozenset(uids)
