"""Read an IMAP BODYSTRUCTURE: which section holds the text, what is attached.

RFC 3501 section 7.4.2 (https://www.rfc-editor.org/rfc/rfc3501#section-7.4.2).
The text body is then fetched alone (``BODY.PEEK[<section>]``), never the
attachments; the rules match :mod:`crmsync.connectors.mime` (first inline
``text/plain``, else first inline ``text/html``; anything else is an attachment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from crmsync.connectors.base import AttachmentInfo
from crmsync.connectors.mime import MAX_CALENDAR_PARTS, MAX_DEPTH, MAX_PARTS, decode_words

#: an invitation larger than this is not fetched (a cut iCalendar cannot be read)
MAX_CALENDAR_BYTES = 512 * 1024


class BodyStructureError(ValueError):
    """The BODYSTRUCTURE does not have the shape RFC 3501 gives it."""


@dataclass(frozen=True, slots=True)
class TextPart:
    """Where the text body is and how to decode it.

    :param section: the ``BODY[...]`` section: ``TEXT`` for a single-part message,
        else the part number (``1``, ``1.2``).
    :param size: encoded size in bytes, as the server reports it.
    """

    section: str
    subtype: str
    encoding: str
    charset: str | None
    size: int


@dataclass(frozen=True, slots=True)
class BodyPlan:
    """The text part to fetch (``None`` when there is none) and the attachments.

    :param calendar: the ``text/calendar`` parts (iTIP invitations) to fetch whole, at
        most :data:`MAX_CALENDAR_PARTS` of at most :data:`MAX_CALENDAR_BYTES` each; they
        stay listed as attachments too, as :func:`crmsync.connectors.mime.parse_message`
        lists them.
    """

    text: TextPart | None
    attachments: tuple[AttachmentInfo, ...]
    calendar: tuple[TextPart, ...] = ()


def plan_body(structure: Any) -> BodyPlan:
    """Return the :class:`BodyPlan` of an imapclient ``BodyData``.

    :raises BodyStructureError: the structure cannot be read.
    """
    found: dict[str, TextPart] = {}
    attachments: list[AttachmentInfo] = []
    calendar: list[TextPart] = []
    counter = [0]
    try:
        _visit(structure, "", 0, found, (attachments, calendar), counter)
    except (IndexError, TypeError, AttributeError, ValueError) as exc:
        raise BodyStructureError(f"unreadable BODYSTRUCTURE: {exc}") from exc
    return BodyPlan(found.get("plain") or found.get("html"), tuple(attachments), tuple(calendar))


def _visit(
    node: Any,
    section: str,
    depth: int,
    found: dict[str, TextPart],
    others: tuple[list[AttachmentInfo], list[TextPart]],
    counter: list[int],
) -> None:
    counter[0] += 1
    if counter[0] > MAX_PARTS or depth > MAX_DEPTH:
        return  # like mime.parse_message: keep what was read
    if isinstance(node[0], list):  # multipart: (parts, subtype, ...)
        prefix = f"{section}." if section else ""
        for number, child in enumerate(node[0], start=1):
            _visit(child, f"{prefix}{number}", depth + 1, found, others, counter)
        return
    maintype, subtype = _text(node[0]).lower(), _text(node[1]).lower()
    params = _params(node[2])
    disposition, disp_params = _disposition(node, maintype, subtype)
    filename = _filename(disp_params) or _filename(params, "name")
    ctype = f"{maintype}/{subtype}"
    is_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename
    kind = "plain" if subtype == "plain" else "html"
    part = TextPart(section=section or "TEXT", subtype=subtype,
                    encoding=_text(node[5]).lower(), charset=params.get("charset"),
                    size=int(node[6] or 0))
    attachments, calendar = others
    if ctype == "text/calendar" and len(calendar) < MAX_CALENDAR_PARTS \
            and part.size <= MAX_CALENDAR_BYTES:
        calendar.append(part)
    if is_body and kind not in found:
        found[kind] = part
    elif not is_body:
        size = part.size * 3 // 4 if part.encoding == "base64" else part.size
        attachments.append(AttachmentInfo(filename=filename, content_type=ctype, size=size))


def _text(value: Any) -> str:
    """Return an atom of the structure as str (imapclient gives bytes, or None for NIL)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _params(value: Any) -> dict[str, str]:
    """Return a parenthesized ``(name value ...)`` list as a lower-case-key dict."""
    if not value or not isinstance(value, tuple):
        return {}
    items = [_text(item) for item in value]
    return {items[i].lower(): items[i + 1] for i in range(0, len(items) - 1, 2)}


def _disposition(node: Any, maintype: str, subtype: str) -> tuple[str, dict[str, str]]:
    """Return the Content-Disposition of a leaf part from its extension data.

    The extension fields start after the type-specific fields: 7 basic fields, plus
    the line count for ``text/*`` and envelope, body and line count for
    ``message/rfc822``; then MD5 and the disposition.
    """
    index = 8
    if maintype == "text":
        index = 9
    elif (maintype, subtype) == ("message", "rfc822"):
        index = 11
    if len(node) <= index or not isinstance(node[index], tuple) or not node[index]:
        return "", {}
    return _text(node[index][0]).lower(), _params(node[index][1] if len(node[index]) > 1 else None)


def _filename(params: dict[str, str], key: str = "filename") -> str | None:
    """Return a decoded file name from parameters (RFC 2231 ``name*`` or RFC 2047)."""
    if f"{key}*" in params:
        return _decode_rfc2231(params[f"{key}*"])
    if key in params:
        return decode_words(params[key])
    return None


def _decode_rfc2231(value: str) -> str:
    """Decode an RFC 2231 extended value ``charset'lang'percent-encoded``."""
    charset, _, rest = value.partition("'")
    _language, _, encoded = rest.partition("'")
    if not encoded:
        return value
    try:
        return unquote_to_bytes(encoded).decode(charset or "utf-8", "replace")
    except LookupError:
        return unquote_to_bytes(encoded).decode("utf-8", "replace")
