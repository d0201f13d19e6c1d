"""Fetch a batch of messages: metadata and headers in one ``UID FETCH``, then the text.

RFC 3501 6.4.5 (https://www.rfc-editor.org/rfc/rfc3501#section-6.4.5). Per batch:

1. one ``UID FETCH`` of ``UID RFC822.SIZE INTERNALDATE FLAGS BODYSTRUCTURE
   BODY.PEEK[HEADER.FIELDS (...)]``;
2. one ``UID FETCH`` per distinct group of sections (the text section ``TEXT``, ``1``,
   ``1.1`` ... plus any ``text/calendar`` sections, the iTIP invitations) of
   ``BODY.PEEK[<section>]<0.N>``, a partial fetch of at most N bytes; other
   attachments are never fetched.

A message whose header block or BODYSTRUCTURE cannot be read is fetched whole
(``BODY.PEEK[]``, bounded) and yielded as :class:`Unreadable`; the batch goes on.
So is a message whose FETCH answer cannot be parsed: when one answer spoils a
batch's FETCH, the batch's UIDs are fetched again one by one, and only the UIDs whose
own answer still cannot be parsed are quarantined (tests/engine/test_partial_failure.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import ProtocolError

from crmsync.connectors.base import HEADER_FIELDS, Change, MailMessage, Unreadable
from crmsync.connectors.imap.bodystructure import (
    MAX_CALENDAR_BYTES,
    BodyPlan,
    BodyStructureError,
    plan_body,
)
from crmsync.connectors.mime import (
    TRUNCATED_MARKER,
    cap_text,
    content_hash,
    decode_body,
    decode_transfer,
    header_problem,
    parse_header_block,
)

log = logging.getLogger(__name__)

HEADER_ITEM = "BODY.PEEK[HEADER.FIELDS (" + " ".join(f.upper() for f in HEADER_FIELDS) + ")]"
META_ITEMS = ["UID", "RFC822.SIZE", "INTERNALDATE", "FLAGS", "BODYSTRUCTURE", HEADER_ITEM]
#: what imapclient's parser (and ours, which keeps its errors) raises on an answer it
#: cannot read: ProtocolError for the syntax, the others from its conversions of the
#: values (an empty BODYSTRUCTURE is an IndexError, a NIL one a TypeError)
UNPARSABLE = (ProtocolError, ValueError, TypeError, IndexError, AttributeError)
#: \Recent belongs to one session, not to the message: reporting it would be noise.
_IGNORED_FLAGS = frozenset({"\\Recent"})


@dataclass(frozen=True, slots=True)
class FolderContext:
    """What each record of one folder shares."""

    folder: str
    uidvalidity: int
    role: str | None
    max_message_bytes: int
    max_text_bytes: int

    def item_id(self, uid: int) -> str:
        """Return the REMOTE_ID of ``uid``: ``"<uidvalidity>:<uid>"``."""
        return f"{self.uidvalidity}:{uid}"


def fetch_messages(
    client: IMAPClient, uids: Sequence[int], ctx: FolderContext
) -> tuple[list[Change], list[int]]:
    """Fetch ``uids`` and return their records (in ``uids`` order) and the UIDs yielded.

    UIDs expunged meanwhile are simply absent from both.
    """
    meta = _fetch_meta(client, uids)
    records: dict[int, Change] = {}
    readable: dict[int, _Readable] = {}
    for uid in uids:
        if uid in meta:
            outcome = _read_meta(client, uid, meta[uid], ctx)
            if isinstance(outcome, _Readable):
                readable[uid] = outcome
            else:
                records[uid] = outcome
    sections, unparsable = _fetch_sections(client, readable, ctx.max_text_bytes)
    for uid, parts in readable.items():
        if uid in unparsable:
            reason = f"unparsable FETCH answer for its text: {unparsable[uid]}"
            records[uid] = _unreadable(client, uid, ctx, reason, _header_block(meta[uid]))
            continue
        try:
            records[uid] = _build(uid, meta[uid], parts, sections.get(uid, {}), ctx)
        except Exception as exc:  # one odd message must not lose the batch: keep it raw
            reason = f"could not be read: {exc!r}"
            records[uid] = _unreadable(client, uid, ctx, reason, _header_block(meta[uid]))
    done = [uid for uid in uids if uid in records]
    return [records[uid] for uid in done], done


def _fetch_meta(client: IMAPClient, uids: Sequence[int]) -> dict[int, Mapping[bytes, Any]]:
    """Run step 1 for the batch; if imapclient cannot parse the answer, one UID at a time."""
    try:
        return dict(client.fetch(list(uids), META_ITEMS))
    except UNPARSABLE:
        log.warning("unparsable FETCH answer for %d UIDs; fetching one by one", len(uids))
    result: dict[int, Mapping[bytes, Any]] = {}
    for uid in uids:
        try:
            result.update(client.fetch([uid], META_ITEMS))
        except UNPARSABLE as exc:
            result[uid] = {b"ERROR": _describe(exc).encode()}
    return result


def _describe(exc: Exception) -> str:
    """Return a parse error in one line (an IndexError alone says little)."""
    return f"{type(exc).__name__}: {exc}"


def _header_block(data: Mapping[bytes, Any]) -> bytes:
    """Return the fetched ``BODY[HEADER.FIELDS (...)]`` value, whatever key echoes it."""
    for key, value in data.items():
        if key.startswith(b"BODY[HEADER") and isinstance(value, bytes):
            return value
    return b""


@dataclass(frozen=True, slots=True)
class _Readable:
    """A message whose header block and BODYSTRUCTURE were read (each parsed once)."""

    headers: dict[str, str]
    plan: BodyPlan


def _read_meta(
    client: IMAPClient, uid: int, data: Mapping[bytes, Any], ctx: FolderContext
) -> _Readable | Change:
    """Read one message's metadata, or settle it now as :class:`Unreadable`."""
    block = _header_block(data)
    if b"ERROR" in data:
        error = data[b"ERROR"].decode(errors="replace")
        return _unreadable(client, uid, ctx, f"unparsable FETCH answer: {error}")
    size = int(data.get(b"RFC822.SIZE") or 0)
    if size > ctx.max_message_bytes:
        reason = f"message of {size} bytes exceeds the limit of {ctx.max_message_bytes}"
        return Unreadable(ctx.item_id(uid), ctx.folder, block, reason)
    headers = parse_header_block(block)
    problem = header_problem(block, headers)
    if problem:
        return _unreadable(client, uid, ctx, problem)
    try:
        plan = plan_body(data.get(b"BODYSTRUCTURE"))
    except BodyStructureError as exc:
        return _unreadable(client, uid, ctx, str(exc))
    return _Readable(headers, plan)


def _unreadable(
    client: IMAPClient, uid: int, ctx: FolderContext, reason: str, known: bytes = b""
) -> Unreadable:
    """Fetch the whole message (bounded) to quarantine it with ``reason``.

    :param known: what is kept instead if even that answer cannot be parsed.
    """
    item = f"BODY.PEEK[]<0.{ctx.max_message_bytes}>"
    try:
        raw = client.fetch([uid], [item]).get(uid, {})
    except UNPARSABLE as exc:
        reason += f"; the whole message could not be fetched either ({_describe(exc)})"
        return Unreadable(ctx.item_id(uid), ctx.folder, known, reason)
    body = next((v for k, v in raw.items() if k.startswith(b"BODY[]")), b"")
    return Unreadable(ctx.item_id(uid), ctx.folder, body or known, reason)


def _fetch_sections(
    client: IMAPClient, readable: Mapping[int, _Readable], limit: int
) -> tuple[dict[int, dict[str, bytes]], dict[int, str]]:
    """Run step 2: one partial ``UID FETCH`` per distinct group of sections.

    Most messages want only their text section, so a batch costs one FETCH per text
    section as before; an invitation adds its calendar sections to its group.

    :returns: UID → section → bytes, and UID → parse error for the UIDs whose answer
        could not be parsed even when fetched alone.
    """
    by_group: dict[tuple[tuple[str, int], ...], list[int]] = defaultdict(list)
    for uid, parts in readable.items():
        text = parts.plan.text
        wanted = ((text.section, limit),) if text is not None else ()
        wanted += tuple((p.section, MAX_CALENDAR_BYTES) for p in parts.plan.calendar)
        if wanted:
            by_group[wanted].append(uid)
    found: dict[int, dict[str, bytes]] = defaultdict(dict)
    unparsable: dict[int, str] = {}
    for group, uids in by_group.items():
        items = [f"BODY.PEEK[{section}]<0.{size}>" for section, size in group]
        for uid, data in _fetch_each_if_needed(client, uids, items, unparsable).items():
            for section, _size in group:
                prefix = f"BODY[{section}]".encode()
                value = next((v for k, v in data.items() if k.startswith(prefix)), None)
                if isinstance(value, bytes):
                    found[uid][section] = value
    return found, unparsable


def _fetch_each_if_needed(
    client: IMAPClient, uids: list[int], items: list[str], unparsable: dict[int, str]
) -> dict[int, Mapping[bytes, Any]]:
    """FETCH ``items`` of ``uids`` at once, or one by one if the answer cannot be parsed.

    UIDs whose own answer still cannot be parsed are added to ``unparsable``.
    """
    try:
        return dict(client.fetch(uids, items))
    except UNPARSABLE:
        log.warning("unparsable FETCH answer for %d UIDs; fetching one by one", len(uids))
    result: dict[int, Mapping[bytes, Any]] = {}
    for uid in uids:
        try:
            result.update(client.fetch([uid], items))
        except UNPARSABLE as exc:
            unparsable[uid] = _describe(exc)
    return result


def _build(
    uid: int,
    data: Mapping[bytes, Any],
    parts: _Readable,
    sections: Mapping[str, bytes],
    ctx: FolderContext,
) -> MailMessage:
    """Assemble the record from the fetched pieces (same rules as mime.parse_message)."""
    headers, plan, part = parts.headers, parts.plan, parts.plan.text
    text = None
    if part is not None:
        body = sections.get(part.section, b"")
        text = decode_body(body, part.encoding, part.charset, part.subtype)
        if part.size > ctx.max_text_bytes:
            text += TRUNCATED_MARKER
        text = cap_text(text)
    return MailMessage(
        item_id=ctx.item_id(uid),
        folder=ctx.folder,
        headers=headers,
        body_text=text,
        attachments=plan.attachments,
        size=int(data.get(b"RFC822.SIZE") or 0),
        received_at=_utc(data.get(b"INTERNALDATE")),
        flags=flags_of(data),
        content_hash=content_hash(headers, text),
        raw_header=_header_block(data),
        folder_role=ctx.role,
        calendar_parts=tuple(decode_transfer(sections[p.section], p.encoding)
                             for p in plan.calendar if p.section in sections),
    )


def flags_of(data: Mapping[bytes, Any]) -> tuple[str, ...]:
    """Return a FETCH answer's FLAGS as str, without session-only ``\\Recent``."""
    flags = (f.decode() if isinstance(f, bytes) else str(f) for f in data.get(b"FLAGS", ()))
    return tuple(f for f in flags if f not in _IGNORED_FLAGS)


def _utc(value: Any) -> datetime | None:
    """Return INTERNALDATE in UTC (imapclient gives an aware datetime)."""
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
