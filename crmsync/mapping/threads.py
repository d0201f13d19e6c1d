"""Message-IDs and the conversation a mail belongs to."""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["conversation_key", "parse_message_ids"]

_BRACKETED = re.compile(r"<([^<>]*)>")
#: Comments such as ``(Ana's message of ...)`` after an In-Reply-To id may hold addresses.
_COMMENT = re.compile(r"\([^()]*\)")
_BARE_SEPARATORS = re.compile(r"[\s,;]+")
_WHITESPACE = re.compile(r"\s+")
#: The same Message-ID, In-Reply-To and References values are read again by the decision,
#: the thread lookup and linking: recent answers are kept (bounded in count and length).
_CACHE_SIZE = 8192
_CACHED_TEXT_MAX = 4096


def parse_message_ids(raw: str | None) -> list[str]:
    """Return the Message-IDs in a Message-ID, In-Reply-To or References value, in order.

    Tolerates what real mailers write: folding whitespace inside an id, ids without angle
    brackets, Exchange's ``<[...]@...>`` form, comments and old free-text In-Reply-To
    ("your message of ... <id>"). When any bracketed id is present only bracketed ids count;
    otherwise bare tokens containing ``@`` are taken. Duplicates are dropped.

    :param raw: the raw header value, or ``None``.
    :returns: ids normalized as ``<id>`` with whitespace removed; case is kept, since ids
        are compared byte for byte by every threader.
    """
    if not raw:
        return []
    if len(raw) > _CACHED_TEXT_MAX:
        return list(_parse_message_ids(raw))
    return list(_parse_message_ids_cached(raw))


def _parse_message_ids(raw: str) -> tuple[str, ...]:
    text = raw
    for _ in range(8):  # nested comments: peel a few levels, no recursion on hostile input
        text, found = _COMMENT.subn(" ", text)
        if not found:
            break
    ids = _BRACKETED.findall(text)
    if not ids:
        ids = [token for token in _BARE_SEPARATORS.split(text) if "@" in token]
    result: dict[str, None] = {}
    for id_ in ids:
        cleaned = _WHITESPACE.sub("", id_).strip("<>")
        if cleaned:
            result[f"<{cleaned}>"] = None
    return tuple(result)


_parse_message_ids_cached = lru_cache(maxsize=_CACHE_SIZE)(_parse_message_ids)


def conversation_key(
    message_id: str | None,
    in_reply_to: list[str],
    references: list[str],
    provider_conversation_id: str | None = None,
) -> str:
    """Return the key of the conversation a mail belongs to: the root of its thread.

    The first References id is the thread's root (RFC 5322 section 3.6.4 asks mailers to keep
    it when they trim References), so every reply, however deep, yields the same key as the
    root itself yields from its own Message-ID; this is what JWZ-style threaders rely on.
    Without References, the parent (In-Reply-To) is the best root known; without either, the
    mail starts its own conversation. A provider's conversation id (Graph
    ``conversationId``) is used only when the mail has no Message-ID at all, since it is not
    comparable across providers.

    :param message_id: the mail's own normalized Message-ID.
    :param in_reply_to: normalized ids from In-Reply-To.
    :param references: normalized ids from References, in header order.
    :param provider_conversation_id: the mail system's conversation key, if any.
    :returns: ``"<id>"``, ``"conv:<provider id>"``, or ``""`` when nothing identifies the
        conversation (the caller supplies a content-hash fallback).
    """
    for candidates in (references, in_reply_to):
        if candidates:
            return candidates[0]
    if message_id:
        return message_id
    if provider_conversation_id:
        return f"conv:{provider_conversation_id}"
    return ""
