"""Subjects as a person reads them and as threads compare them.

Mail clients prepend reply and forward markers in the user's language ("AW:", "回复：") and
mailing lists prepend tags ("[users]"); none of that is part of what the mail is about.
"""

from __future__ import annotations

import re

__all__ = ["normalize_subject", "subject_key"]

#: Reply and forward markers: English, German (AW, WG), Scandinavian (SV, VS), French (TR),
#: Italian (RIF, R), Dutch (Antw, Doorst), Chinese and Japanese. Longest first so that "FWD"
#: is tried before "FW".
_MARKERS = sorted(
    (
        "re", "fw", "fwd", "aw", "wg", "sv", "vs", "tr", "rif", "r", "antw", "doorst",
        "回复", "答复", "回覆", "转发", "轉寄", "转寄", "返信", "転送",
    ),
    key=len,
    reverse=True,
)  # fmt: skip
#: A marker, an optional counter ("Re[2]:", "RE(3):"), an ASCII or full-width colon.
_PREFIX = re.compile(
    "(?:" + "|".join(map(re.escape, _MARKERS)) + r")\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_LIST_TAG = re.compile(r"\[([^\[\]]{1,64})\]\s*")
#: Tags that identify a record, not a list ("[CASE-000042]", "[Ticket#123]", "[#42]"):
#: kept, because the case rules thread replies on them.
_CASE_TOKEN = re.compile(r"[A-Za-z]*[-#]?\d+")


def normalize_subject(subject: str) -> str:
    """Return ``subject`` without reply/forward markers and list tags, whitespace collapsed.

    Markers and tags are stripped repeatedly from the start ("RE: FW: [users] AW: hi" → "hi").
    Case is kept: this is the form shown to people.

    :param subject: the decoded subject.
    :returns: the normalized subject; normalizing it again returns it unchanged.
    """
    text = " ".join(subject.split())
    while True:
        stripped = _strip_one(text)
        if stripped == text:
            return text
        text = stripped


def subject_key(subject: str) -> str:
    """Return the form of ``subject`` two mails of one thread share: normalized, casefolded."""
    return normalize_subject(subject).casefold()


def _strip_one(text: str) -> str:
    prefix = _PREFIX.match(text)
    if prefix:
        return text[prefix.end() :]
    tag = _LIST_TAG.match(text)
    # A tag alone is the whole subject, not a decoration of it.
    if tag and not _CASE_TOKEN.fullmatch(tag.group(1).strip()) and text[tag.end() :]:
        return text[tag.end() :]
    return text
