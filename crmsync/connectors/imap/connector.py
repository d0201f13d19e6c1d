"""The IMAP connector: first sync newest window first, then cheap polls (RFC 4549, RFC 7162).

A poll costs one round trip when nothing changed: SELECT (EXAMINE) answers with
UIDVALIDITY, UIDNEXT, EXISTS and HIGHESTMODSEQ, and equal values mean no new mail,
no expunge and no flag change. Otherwise:

* new mail: ``UID SEARCH UID <old uidnext>:<new uidnext - 1>``, fetched ascending;
* with QRESYNC (RFC 7162 3.2.5, :mod:`.qresync`) the poll's EXAMINE carries the
  cursor's UIDVALIDITY and HIGHESTMODSEQ, and its answer names the expunged UIDs
  (``VANISHED (EARLIER)``) and the re-flagged messages (``FETCH``): expunges and flag
  changes cost no command of their own, whatever the folder's size;
* without QRESYNC, expunges: only when EXISTS is not the old count plus the new mail,
  a ``UID SEARCH UID <known set>`` tells which known UIDs are gone (RFC 4549 4.3.1);
  flag changes (CONDSTORE only): ``UID SEARCH MODSEQ`` then ``UID FETCH (FLAGS)``.
  Without CONDSTORE flag changes are not detected; new mail and expunges still are.

Push is IMAP IDLE, or NOTIFY for several folders on one connection
(:class:`~crmsync.connectors.base.Idling`, :mod:`.idle`); sending goes through the
mailbox's SMTP submission server (:class:`~crmsync.connectors.base.Sending`,
:mod:`crmsync.connectors.smtp`), since IMAP itself cannot send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from email.message import EmailMessage
from typing import Any

from crmsync.connectors.base import (
    Change,
    Connector,
    Deletion,
    FlagsChanged,
    Idling,
    Page,
    Sending,
    SendReceipt,
    SendRefusedError,
)
from crmsync.connectors.imap.cursor import ImapCursor, format_uid_set
from crmsync.connectors.imap.fetch import FolderContext, fetch_messages, flags_of
from crmsync.connectors.imap.folders import discover_folders
from crmsync.connectors.imap.idle import idle, notify_set
from crmsync.connectors.imap.qresync import Resync, examine_qresync, is_enabled
from crmsync.connectors.imap.response import FastFetchClient
from crmsync.connectors.imap.session import (
    ConnectionLostError,
    FolderState,
    close_session,
    examine,
    open_session,
    translated_errors,
)
from crmsync.connectors.imap.settings import ImapSettings
from crmsync.connectors.oauth2 import Token, token_source
from crmsync.connectors.smtp import SMTP_AUTH_CHOICES, SmtpSettings, submit
from crmsync.errors import AuthError, CursorExpiredError

log = logging.getLogger(__name__)


class ImapConnector(Connector, Sending, Idling):
    """Mail of one IMAP mailbox (Inbox and Sent by default), read-only.

    :param settings: where and how to connect.
    :param secret: the password; for XOAUTH2 the access token, or a refreshable
        credential (JSON, :mod:`crmsync.connectors.oauth2`). SMTP AUTH uses the
        password or the current access token.
    :param smtp: the mailbox's submission server; ``None`` when it sends nothing.
    :raises ConfigError: a refreshable credential is unusable.
    """

    name = "imap"
    supports_delta = True
    read_only = True
    #: fetch_changes may run in the engine's prefetch thread (the session is used only there)
    prefetch_pages = True
    #: a backfill may run in a process of its own, with its own session
    fetch_in_process = True

    def __init__(self, settings: ImapSettings, secret: str,
                 smtp: SmtpSettings | None = None) -> None:
        self.settings = settings
        self.smtp = smtp
        self._secret = secret
        self._tokens: Token | None = token_source(secret) if settings.auth == "xoauth2" else None
        self._client: FastFetchClient | None = None
        self._roles: dict[str, str] | None = None
        #: the folders NOTIFY SET asked for on the current session (see ``notify_set``)
        self._notifying: tuple[str, ...] | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], secret: str) -> ImapConnector:
        """See `Connector.from_settings`; the keys are :meth:`ImapSettings.from_mapping`'s
        and :meth:`SmtpSettings.from_mapping`'s."""
        return cls(ImapSettings.from_mapping(settings), secret,
                   SmtpSettings.from_mapping(settings))

    # -- session -----------------------------------------------------------------

    def _session(self, renew: bool = False) -> FastFetchClient:
        """Return the open session, logging in on first use or after a broken one.

        :param renew: also log in again when the session's OAuth token is about to
            lapse (a server may end such a session); only where a folder is selected
            next, since a new session has none selected.
        """
        if renew and self._client is not None and self._tokens is not None \
                and self._tokens.expires_soon():
            self.close()
        if self._client is None:
            self._client = self._open()
            self._notifying = None
        return self._client

    def _open(self) -> FastFetchClient:
        """Log in; an OAuth token the server refuses is renewed once and tried again
        (revoked before its time, or the clocks disagree about its expiry)."""
        secret = self._login_secret()
        try:
            return open_session(self.settings, secret)
        except AuthError:
            if self._tokens is None:
                raise
            renewed = self._tokens.access_token(force=True)
            if renewed == secret:  # a static token: nothing else to try
                raise
            return open_session(self.settings, renewed)

    def _login_secret(self) -> str:
        """Return the password, or an OAuth access token renewed when about to lapse."""
        return self._secret if self._tokens is None else self._tokens.access_token()

    def updated_secret(self) -> str | None:
        """See `Connector.updated_secret`: the OAuth credential after a refresh."""
        return None if self._tokens is None else self._tokens.updated()

    def close(self) -> None:
        """See `Connector.close`: LOGOUT."""
        client, self._client = self._client, None
        if client is not None:
            close_session(client)

    @contextmanager
    def _call(self, doing: str) -> Iterator[None]:
        """Translate the errors of one step; forget the session when the connection broke."""
        try:
            with translated_errors(self.settings, doing):
                yield
        except ConnectionLostError:
            client, self._client = self._client, None
            if client is not None:
                close_session(client)
            raise

    # -- resources ---------------------------------------------------------------

    def list_resources(self) -> list[str]:
        """See `Connector.list_resources`: the ``folders`` setting, else Inbox and Sent."""
        with self._call("list folders"):
            roles = self._folder_roles()
        if self.settings.folders:
            return list(self.settings.folders)
        return sorted(roles, key=lambda folder: roles[folder] != "inbox")

    def _folder_roles(self) -> dict[str, str]:
        """Return folder → role (``inbox``/``sent``), discovered once per connector."""
        if self._roles is None:
            self._roles = discover_folders(self._session())
        return self._roles

    # -- changes -----------------------------------------------------------------

    def fetch_changes(self, resource: str, cursor: str | None) -> Iterator[Page]:
        """See `Connector.fetch_changes`; the cursor format is in :mod:`.cursor`."""
        head = ImapCursor.loads(cursor, with_uids=False) if cursor else None
        with self._call(f"sync {resource!r}"):
            self._session(renew=True)
            ctx_role = self._folder_roles().get(resource)
            state, resync = self._examine(resource, head)
        if cursor and head is not None and head.uidvalidity == state.uidvalidity \
                and head.backfill_below is None and _is_unchanged(head, state):
            # Nothing new, expunged or re-flagged: answered by SELECT alone (and the
            # cursor's set of known UIDs is not even parsed).
            yield Page(resource, [], cursor)
            return
        old = ImapCursor.loads(cursor) if cursor else None
        ctx = FolderContext(
            folder=resource,
            uidvalidity=state.uidvalidity,
            role=ctx_role,
            max_message_bytes=self.settings.max_message_bytes,
            max_text_bytes=self.settings.max_text_bytes,
        )
        if old is None:
            pages = self._backfill(ctx, _fresh_cursor(state, self.settings.since))
        elif old.uidvalidity != state.uidvalidity:
            pages = self._resync(ctx, old, state)
        elif old.backfill_below is not None:
            pages = self._backfill(ctx, old)
        else:
            yield from self._poll(ctx, old, state, resync)
            return
        last = None
        for page in pages:
            last = page
            yield page
        if last is not None:
            # Mail that arrived while backfilling sits above the backfill's UIDNEXT:
            # poll once more so "caught up" includes it.
            yield from self._catch_up(ctx, ImapCursor.loads(last.cursor))

    def backfill_size(self, resource: str, cursor: str | None) -> int:
        """See `Connector.backfill_size`: the folder's MESSAGES (STATUS) while backfilling.

        One round trip, and none for a poll (a cursor that finished its backfill).
        """
        try:
            if cursor and ImapCursor.loads(cursor, with_uids=False).backfill_below is None:
                return 0
        except CursorExpiredError:
            return 0  # fetch_changes reports it
        with self._call(f"status of {resource!r}"):
            status = self._session().folder_status(resource, [b"MESSAGES"])
        return int(status.get(b"MESSAGES", 0))

    def _catch_up(self, ctx: FolderContext, after: ImapCursor) -> Iterator[Page]:
        """Poll right after a backfill; yields nothing when the folder did not move."""
        with self._call(f"sync {ctx.folder!r}"):
            state, resync = self._examine(ctx.folder, after)
        if state.uidvalidity == after.uidvalidity and not _is_unchanged(after, state):
            yield from self._poll(ctx, after, state, resync)

    def _examine(
        self, folder: str, since: ImapCursor | None
    ) -> tuple[FolderState, Resync | None]:
        """EXAMINE ``folder``, with QRESYNC parameters when the session and ``since`` allow.

        :returns: the folder's state, and what QRESYNC reported since ``since`` (``None``
            when it was not asked: the poll then finds expunges the RFC 4549 way).
            A first sync, one still under way, or a cursor without a mod-sequence (made
            without CONDSTORE) gives QRESYNC nothing to start from.
        """
        client = self._session()
        if since is None or since.modseq is None or since.backfill_below is not None \
                or not is_enabled(client):
            return examine(client, folder), None
        return examine_qresync(client, folder, since.uidvalidity, since.modseq)

    def _resync(self, ctx: FolderContext, old: ImapCursor, state: FolderState) -> Iterator[Page]:
        """UIDVALIDITY changed: every known item id is gone; rescan like a first sync."""
        log.info(
            "%s: UIDVALIDITY %s -> %s, resyncing", ctx.folder, old.uidvalidity, state.uidvalidity
        )
        gone: list[Change] = [
            Deletion(f"{old.uidvalidity}:{uid}", ctx.folder) for uid in sorted(old.uids)
        ]
        fresh = _fresh_cursor(state, self.settings.since or old.since)
        yield Page(ctx.folder, gone, fresh.dumps(), resync=True)
        yield from self._backfill(ctx, fresh)

    def _backfill(self, ctx: FolderContext, cursor: ImapCursor) -> Iterator[Page]:
        """Yield the window's messages still due, newest window first, oldest first inside.

        The due messages (below ``cursor.backfill_below``, not yet yielded) are cut into
        windows of ``backfill_window``, newest first, so recent mail reaches the CRM
        first; inside a window pages go in UID order (arrival order), so a reply is
        usually stored after the mail it answers and inherits its links at once instead
        of being decided again later (the rethreading hook's work).
        """
        below = cursor.backfill_below or 1
        with self._call(f"search {ctx.folder!r}"):
            criteria: list[object] = ["UID", f"1:{below - 1}"] if below > 1 else []
            if cursor.since is not None:
                criteria += ["SINCE", cursor.since]
            found = self._search(criteria) if below > 1 else []
        due = sorted((uid for uid in found if uid < below and uid not in cursor.uids),
                     reverse=True)
        if not due:
            yield Page(ctx.folder, [], replace(cursor, backfill_below=None).dumps())
            return
        size, window_size = self.settings.batch_size, self.settings.backfill_window
        for top in range(0, len(due), window_size):
            window = due[top : top + window_size][::-1]
            rest_below = window[0] if top + window_size < len(due) else None
            for start in range(0, len(window), size):
                batch = window[start : start + size]
                changes, done = self._fetch(ctx, batch)
                # Until the window is done, its unfetched UIDs are below its top + 1
                # and not in ``uids``; after it, only UIDs below the window are due.
                window_done = start + size >= len(window)
                cursor = replace(cursor, uids=cursor.uids | set(done),
                                 backfill_below=rest_below if window_done else window[-1] + 1)
                yield Page(ctx.folder, changes, cursor.dumps(), stats={"messages": len(done)})

    def _poll(self, ctx: FolderContext, old: ImapCursor, state: FolderState,
              resync: Resync | None) -> Iterator[Page]:
        """Yield deletions and flag changes, then new mail ascending in batches.

        :param resync: what the EXAMINE's QRESYNC answer reported, if it was asked.
        """
        new: list[int] = []
        with self._call(f"poll {ctx.folder!r}"):
            if state.uidnext > old.uidnext:
                new = sorted(self._search(["UID", f"{old.uidnext}:{state.uidnext - 1}"]))
                new = [uid for uid in new if old.uidnext <= uid < state.uidnext]
            if resync is not None:
                changes, known = _reported_changes(ctx, old, resync)
            else:
                changes, known = self._expunged(ctx, old, state, len(new))
                changes += self._flag_changes(ctx, old, state, known)
        base = replace(old, uids=known, modseq=state.highestmodseq)
        if not new:
            end = replace(base, uidnext=state.uidnext, exists=state.exists)
            yield Page(ctx.folder, changes, end.dumps())
            return
        for start in range(0, len(new), self.settings.batch_size):
            batch = new[start : start + self.settings.batch_size]
            fetched, done = self._fetch(ctx, batch)
            remaining = len(new) - start - len(batch)
            base = replace(
                base,
                uids=base.uids | set(done),
                uidnext=batch[-1] + 1 if remaining else state.uidnext,
                # messages below the new uidnext: all but the new ones still due
                exists=state.exists - remaining,
            )
            yield Page(ctx.folder, changes + fetched, base.dumps(), stats={"messages": len(done)})
            changes = []

    def _expunged(
        self, ctx: FolderContext, old: ImapCursor, state: FolderState, new_count: int
    ) -> tuple[list[Change], frozenset[int]]:
        """Return Deletions for known UIDs gone from the folder, and the known UIDs left.

        RFC 4549 4.3.1, for sessions without QRESYNC.
        """
        if state.exists == old.exists + new_count or not old.uids:
            # EXISTS is exactly the old count plus the new mail: nothing was expunged.
            return [], old.uids
        present = set(self._search(["UID", format_uid_set(old.uids)]))
        gone = sorted(old.uids - present)
        return [Deletion(ctx.item_id(uid), ctx.folder) for uid in gone], old.uids - set(gone)

    def _flag_changes(
        self, ctx: FolderContext, old: ImapCursor, state: FolderState, known: frozenset[int]
    ) -> list[Change]:
        """Return FlagsChanged for known UIDs whose MODSEQ moved (CONDSTORE only).

        ``UID SEARCH MODSEQ`` (RFC 7162 3.1.5) names them, then one ``UID FETCH (FLAGS)``;
        imapclient's ``fetch`` cannot take a sequence-set string for ``CHANGEDSINCE``.
        """
        if old.modseq is None or state.highestmodseq in (None, old.modseq) or not known:
            return []
        changed = sorted(set(self._search(["MODSEQ", str(old.modseq + 1)])) & known)
        if not changed:
            return []
        answer = self._session().fetch(changed, ["FLAGS"])
        return [
            FlagsChanged(ctx.item_id(uid), ctx.folder, flags_of(data))
            for uid, data in sorted(answer.items())
        ]

    def _search(self, criteria: Sequence[object]) -> list[int]:
        return [int(uid) for uid in self._session().search(list(criteria) or ["ALL"])]

    def _fetch(self, ctx: FolderContext, uids: Sequence[int]) -> tuple[list[Change], list[int]]:
        with self._call(f"fetch from {ctx.folder!r}"):
            return fetch_messages(self._session(), uids, ctx)

    # -- push --------------------------------------------------------------------

    def idle_wait(self, resource: str, timeout: float) -> bool:
        """See `Idling.idle_wait`: IMAP IDLE (RFC 2177) on ``resource``.

        :returns: whether the server reported a change (EXISTS, EXPUNGE, VANISHED or FETCH).
        """
        with self._call(f"idle on {resource!r}"):
            client = self._session(renew=True)
            examine(client, resource)
            return idle(client, timeout)

    def can_watch_many(self) -> bool:
        """See `Idling.can_watch_many`: whether the server offers NOTIFY (RFC 5465)."""
        with self._call("read the capabilities"):
            return bool(self._session().has_capability("NOTIFY"))

    def idle_wait_many(self, resources: Sequence[str], timeout: float) -> bool:
        """See `Idling.idle_wait_many`: NOTIFY SET on ``resources``, then IDLE (:mod:`.idle`)."""
        with self._call(f"notify on {', '.join(map(repr, resources))}"):
            client = self._session(renew=True)
            if self._notifying != tuple(resources):
                notify_set(client, resources)
                self._notifying = tuple(resources)
            return idle(client, timeout)

    # -- send --------------------------------------------------------------------

    @classmethod
    def send_settings_problem(cls, settings: Mapping[str, Any]) -> str:
        """See `Sending.send_settings_problem`: sending needs ``smtp_host``."""
        smtp = SmtpSettings.from_mapping(settings)
        if smtp is None:
            return "has no SMTP settings to send from"
        if smtp.auth not in SMTP_AUTH_CHOICES:
            return f"has an unknown SMTP login setting {smtp.auth!r} (login or none)"
        return ""

    def send(self, message: EmailMessage,
             point_of_no_return: Callable[[], None] | None = None) -> SendReceipt:
        """See `Sending.send`: SMTP submission with the mailbox's login (:mod:`.smtp`)."""
        if self.smtp is None:
            raise SendRefusedError(f"{self.settings.username}: no SMTP settings")
        return submit(self.smtp, self._login_secret(), message, point_of_no_return)


def _reported_changes(
    ctx: FolderContext, old: ImapCursor, resync: Resync
) -> tuple[list[Change], frozenset[int]]:
    """Return the Deletions and FlagsChanged QRESYNC reported for known UIDs, and the
    known UIDs left (the server may name UIDs never yielded: outside the window, or
    new and gone again since the last poll)."""
    gone = old.uids & resync.vanished
    known = old.uids - gone
    changes: list[Change] = [Deletion(ctx.item_id(uid), ctx.folder) for uid in sorted(gone)]
    changes += [
        FlagsChanged(ctx.item_id(uid), ctx.folder, flags)
        for uid, flags in sorted(resync.flags.items())
        if uid in known
    ]
    return changes, known


def _fresh_cursor(state: FolderState, since: date | None) -> ImapCursor:
    """Return the cursor of a first sync about to start: everything below UIDNEXT due."""
    return ImapCursor(
        uidvalidity=state.uidvalidity,
        uidnext=state.uidnext,
        exists=state.exists,
        modseq=state.highestmodseq,
        backfill_below=state.uidnext,
        since=since,
    )


def _is_unchanged(old: ImapCursor, state: FolderState) -> bool:
    """Return whether SELECT alone proves nothing changed since ``old``."""
    return (
        state.uidnext == old.uidnext
        and state.exists == old.exists
        and state.highestmodseq == old.modseq
    )
