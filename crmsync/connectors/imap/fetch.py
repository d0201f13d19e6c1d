"""Fetch a batch of messages: metadata and headers in one ``UID FETCH``, then the text.

RFC 3501 6.4.5 (https://www.rfc-editor.org/rfc/rfc3501#section-6.4.5). Per batch:

1. one ``UID FETCH`` of ``UID RFC822.SIZE INTERNALDATE FLAGS BODYSTRUCTURE
   BODY.PEEK[HEADER.FIELDS (...)]``;
2. one ``UID FETCH`` per distinct text section (``TEXT``, ``1``, ``1.1`` ...) of
   ``BODY.PEEK[<section>]<0.N>``, a partial fetch of at most N bytes; attachments are
   never fetched.

A message whose header block or BODYSTRUCTURE cannot be read is fetched whole
(``BODY.PEEK[]``, bounded) and yielded as :class:`Unreadable`; the batch goes on.
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
from crmsync.connectors.imap.bodystructure import BodyStructureError, TextPart, plan_body
from crmsync.connectors.mime import (
    TRUNCATED_MARKER,
    cap_text,
    content_hash,
    decode_body,
    header_problem,
    parse_header_block,
)

log = logging.getLogger(__name__)

HEADER_ITEM = "BODY.PEEK[HEADER.FIELDS (" + " ".join(f.upper() for f in HEADER_FIELDS) + ")]"
META_ITEMS = ["UID", "RFC822.SIZE", "INTERNALDATE", "FLAGS", "BODYSTRUCTURE", HEADER_ITEM]
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
    texts: dict[int, TextPart] = {}
    for uid in uids:
        if uid in meta:
            outcome = _read_meta(client, uid, meta[uid], ctx)
            if isinstance(outcome, TextPart):
                texts[uid] = outcome
            else:
                records[uid] = outcome
    bodies = _fetch_texts(client, texts, ctx.max_text_bytes)
    for uid, part in texts.items():
        records[uid] = _build(uid, meta[uid], part, bodies.get(uid), ctx)
    done = [uid for uid in uids if uid in records]
    return [records[uid] for uid in done], done


def _fetch_meta(client: IMAPClient, uids: Sequence[int]) -> dict[int, Mapping[bytes, Any]]:
    """Run step 1 for the batch; if imapclient cannot parse the answer, one UID at a time."""
    try:
        return dict(client.fetch(list(uids), META_ITEMS))
    except ProtocolError:
        log.warning("unparsable FETCH answer for %d UIDs; fetching one by one", len(uids))
    result: dict[int, Mapping[bytes, Any]] = {}
    for uid in uids:
        try:
            result.update(client.fetch([uid], META_ITEMS))
        except ProtocolError as exc:
            result[uid] = {b"ERROR": str(exc).encode()}
    return result


def _header_block(data: Mapping[bytes, Any]) -> bytes:
    """Return the fetched ``BODY[HEADER.FIELDS (...)]`` value, whatever key echoes it."""
    for key, value in data.items():
        if key.startswith(b"BODY[HEADER") and isinstance(value, bytes):
            return value
    return b""


def _read_meta(
    client: IMAPClient, uid: int, data: Mapping[bytes, Any], ctx: FolderContext
) -> TextPart | Change:
    """Decide what to do with one message: fetch its text part, or settle it now."""
    block = _header_block(data)
    if b"ERROR" in data:
        return _unreadable(client, uid, ctx, f"unparsable FETCH answer: {data[b'ERROR']!r}")
    size = int(data.get(b"RFC822.SIZE") or 0)
    if size > ctx.max_message_bytes:
        reason = f"message of {size} bytes exceeds the limit of {ctx.max_message_bytes}"
        return Unreadable(ctx.item_id(uid), ctx.folder, block, reason)
    problem = header_problem(block, parse_header_block(block))
    if problem:
        return _unreadable(client, uid, ctx, problem)
    try:
        plan = plan_body(data.get(b"BODYSTRUCTURE"))
    except BodyStructureError as exc:
        return _unreadable(client, uid, ctx, str(exc))
    if plan.text is None:
        return _build(uid, data, None, None, ctx)
    return plan.text


def _unreadable(client: IMAPClient, uid: int, ctx: FolderContext, reason: str) -> Unreadable:
    """Fetch the whole message (bounded) to quarantine it with ``reason``."""
    item = f"BODY.PEEK[]<0.{ctx.max_message_bytes}>"
    raw = client.fetch([uid], [item]).get(uid, {})
    body = next((v for k, v in raw.items() if k.startswith(b"BODY[]")), b"")
    return Unreadable(ctx.item_id(uid), ctx.folder, body or b"", reason)


def _fetch_texts(client: IMAPClient, texts: Mapping[int, TextPart], limit: int) -> dict[int, bytes]:
    """Run step 2: one partial ``UID FETCH`` per distinct section."""
    by_section: dict[str, list[int]] = defaultdict(list)
    for uid, part in texts.items():
        by_section[part.section].append(uid)
    bodies: dict[int, bytes] = {}
    for section, uids in by_section.items():
        answer = client.fetch(uids, [f"BODY.PEEK[{section}]<0.{limit}>"])
        prefix = f"BODY[{section}]".encode()
        for uid, data in answer.items():
            value = next((v for k, v in data.items() if k.startswith(prefix)), None)
            if isinstance(value, bytes):
                bodies[uid] = value
    return bodies


def _build(
    uid: int,
    data: Mapping[bytes, Any],
    part: TextPart | None,
    body: bytes | None,
    ctx: FolderContext,
) -> MailMessage:
    """Assemble the record from the fetched pieces (same rules as mime.parse_message)."""
    block = _header_block(data)
    headers = parse_header_block(block)
    text = None
    if part is not None:
        text = decode_body(body or b"", part.encoding, part.charset, part.subtype)
        if part.size > ctx.max_text_bytes:
            text += TRUNCATED_MARKER
        text = cap_text(text)
    plan = plan_body(data.get(b"BODYSTRUCTURE"))
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
        raw_header=block,
        folder_role=ctx.role,
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
