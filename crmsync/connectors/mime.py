"""Turn mail bytes into :class:`~crmsync.connectors.base.MailMessage` records, fast.

Everything here uses the ``compat32`` policy: it is ten times faster than
``policy.default`` (see bench/README.md), and mapping decodes RFC 2047 words
only for what it shows or matches. Bad input never raises: :func:`parse_message`
returns :class:`~crmsync.connectors.base.Unreadable` with a one-line reason, and is
as lenient as a mail client otherwise (most damaged MIME still yields a record).

The small functions below (:func:`parse_header_block`, :func:`decode_body`,
:func:`html_to_text`, :func:`content_hash`) are shared with the IMAP connector, which
builds the same record from a fetched header block and text section, so a mail read
from a file and the same mail fetched over IMAP get the same ``content_hash`` whenever
their text bodies decode the same.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import quopri
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from html.parser import HTMLParser

from crmsync.connectors.base import HEADER_FIELDS, AttachmentInfo, MailMessage, Unreadable
from crmsync.connectors.header_block import header_fields

log = logging.getLogger(__name__)

#: Text bodies longer than this many characters are cut and marked.
MAX_TEXT_CHARS = 1_000_000
#: Appended to a text body that was cut.
TRUNCATED_MARKER = "\n[crmsync: text truncated]"
#: MIME trees deeper or larger than this are read only up to the limit.
MAX_DEPTH = 50
MAX_PARTS = 1000

_WANTED = frozenset(HEADER_FIELDS)
_PARSER = BytesParser(policy=policy.compat32)
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
#: Labels that mean "some subset of GB 18030" in real mail; GB 18030 decodes them all.
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030"}


# -- headers -----------------------------------------------------------------------


def split_header_block(raw: bytes) -> tuple[bytes, bytes]:
    """Split ``raw`` into the header block (with its blank line) and the body."""
    match = _HEADER_END.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.end()], raw[match.end() :]


def parse_header_block(block: bytes) -> dict[str, str]:
    """Return the :data:`HEADER_FIELDS` of a header block, first occurrence of each.

    Values stay raw (RFC 2047 words encoded) but are unfolded to one line; 8-bit bytes,
    which compat32 keeps as surrogates, are decoded as UTF-8 or else Latin-1, so a
    header written raw by a careless client survives as text.
    """
    headers: dict[str, str] = {}
    for name, value in header_fields(block):
        key = name.lower()
        if key in _WANTED and key not in headers:
            headers[key] = _FOLD.sub("", _unsurrogate(value)).strip()
    return headers


def _unsurrogate(value: str) -> str:
    """Turn compat32's surrogate-escaped 8-bit bytes back into real characters."""
    if value.isascii():
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def header_problem(block: bytes, headers: Mapping[str, str]) -> str | None:
    """Return why a header block cannot make a record, or ``None`` when it can."""
    if b"\x00" in block:
        return "header block has NUL bytes (binary data, not a mail)"
    if not headers:
        return "no mail header fields (From, To, Subject, Date, Message-ID, ...)"
    return None


def decode_words(value: str | None) -> str | None:
    """Decode RFC 2047 words (``=?utf-8?q?...?=``) for display; never raises."""
    if value is None or "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


# -- bodies ------------------------------------------------------------------------


def decode_transfer(data: bytes, encoding: str | None) -> bytes:
    """Undo a Content-Transfer-Encoding, tolerating damage and partial (cut) input."""
    encoding = (encoding or "").strip().lower()
    if encoding == "base64":
        compact = re.sub(rb"[^A-Za-z0-9+/=]", b"", data)
        compact = compact[: len(compact) - len(compact) % 4]
        try:
            return binascii.a2b_base64(compact)
        except binascii.Error:
            return data
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode text bytes by their declared charset, replacing what does not decode.

    No or an unknown charset: UTF-8 if it decodes, else Windows-1252, which is what
    undeclared 8-bit mail nearly always is. Line ends become ``\\n`` whatever the
    source (CRLF over IMAP, LF in files), so both give the same text.
    """
    return _decode_text(data, charset).replace("\r\n", "\n")


def _decode_text(data: bytes, charset: str | None) -> str:
    name = (charset or "").strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    if name and name not in ("us-ascii", "ascii", "unknown-8bit", "x-unknown"):
        try:
            return data.decode(name, errors="replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def decode_body(data: bytes, encoding: str | None, charset: str | None, subtype: str) -> str:
    """Return the text of one text part: transfer-decoded, charset-decoded, HTML stripped."""
    text = decode_text(decode_transfer(data, encoding), charset)
    return html_to_text(text) if subtype.lower() == "html" else text


def cap_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut so nobody mistakes it."""
    return text if len(text) <= limit else text[:limit] + TRUNCATED_MARKER


class _TextExtractor(HTMLParser):
    """Collect the visible text of an HTML document, one line per block element."""

    _SKIP = frozenset({"script", "style", "head", "title"})
    _BLOCK = frozenset(
        "p br div tr li ul ol table h1 h2 h3 h4 h5 h6 blockquote pre hr section".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """Return the visible text of ``html``: tags dropped, entities decoded, blank runs squeezed."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except (AssertionError, ValueError):  # html.parser's rare complaints on broken markup
        pass
    lines = (" ".join(line.split()) for line in "".join(extractor.chunks).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def content_hash(headers: Mapping[str, str], body_text: str | None) -> str:
    """Return SHA-256 hex of the header fields (in :data:`HEADER_FIELDS` order) and text.

    Built from parsed fields rather than raw bytes so that the same mail read from a
    file and fetched over IMAP (``HEADER.FIELDS``) hash the same.
    """
    digest = hashlib.sha256()
    for name in HEADER_FIELDS:
        if name in headers:
            digest.update(f"{name}: {headers[name]}\n".encode("utf-8", "surrogatepass"))
    digest.update(b"\n")
    digest.update((body_text or "").encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


# -- whole messages ----------------------------------------------------------------


#: text/calendar parts kept per mail (an invitation has one; more is unusual)
MAX_CALENDAR_PARTS = 4


@dataclass(slots=True)
class _Walk:
    """What a bounded walk over a MIME tree collected."""

    plain: str | None = None
    html: str | None = None
    attachments: list[AttachmentInfo] = field(default_factory=list)
    calendar: list[bytes] = field(default_factory=list)
    parts: int = 0
    limit: str | None = None


def parse_message(
    raw: bytes,
    *,
    item_id: str,
    folder: str,
    received_at: datetime | None = None,
    flags: Iterable[str] = (),
    folder_role: str | None = None,
) -> MailMessage | Unreadable:
    """Parse one whole message (RFC 5322 bytes) into a record; never raises.

    :param item_id: REMOTE_ID of the record.
    :returns: a :class:`MailMessage`, or an :class:`Unreadable` carrying ``raw`` and
        the reason when the bytes are not a mail (empty, no header fields, binary).
    """

    def unreadable(reason: str) -> Unreadable:
        return Unreadable(item_id=item_id, folder=folder, raw=raw, reason=reason)

    if not raw.strip():
        return unreadable("empty message")
    block, body = split_header_block(_strip_unixfrom(raw))
    try:
        headers = parse_header_block(block)
        problem = header_problem(block, headers)
        walk = _walk_body(raw) if body.strip() else _Walk()
    except RecursionError:
        return unreadable(f"MIME nesting deeper than Python can parse ({len(raw)} bytes)")
    except Exception as exc:  # the stdlib parser has rare crashes on hostile input
        log.debug("MIME parser failed on %s", item_id, exc_info=True)
        return unreadable(f"MIME parser failed: {type(exc).__name__}: {exc}")
    if problem:
        return unreadable(problem)
    if walk.limit:
        log.info("%s: %s; kept what was read", item_id, walk.limit)
    text = walk.plain if walk.plain is not None else walk.html
    text = None if text is None else cap_text(text)
    return MailMessage(
        item_id=item_id,
        folder=folder,
        headers=headers,
        body_text=text,
        attachments=tuple(walk.attachments),
        size=len(raw),
        received_at=received_at,
        flags=tuple(flags),
        content_hash=content_hash(headers, text),
        raw_header=block,
        folder_role=folder_role,
        calendar_parts=tuple(walk.calendar),
    )


def _strip_unixfrom(raw: bytes) -> bytes:
    """Drop an mbox ``From `` envelope line; it is not a header field."""
    if raw.startswith(b"From "):
        end = raw.find(b"\n")
        return raw[end + 1 :] if end >= 0 else b""
    return raw


def _walk_body(raw: bytes) -> _Walk:
    """Parse the full MIME tree and collect text and attachment metadata, bounded."""
    walk = _Walk()
    _visit(_PARSER.parsebytes(raw), 0, walk)
    return walk


def _visit(part: Message, depth: int, walk: _Walk) -> None:
    if walk.parts >= MAX_PARTS or depth > MAX_DEPTH:
        walk.limit = f"MIME tree beyond {MAX_PARTS} parts or {MAX_DEPTH} levels"
        return
    walk.parts += 1
    ctype = part.get_content_type()
    if part.is_multipart() and not ctype.startswith("message/"):
        for sub in part.get_payload():
            if isinstance(sub, Message):
                _visit(sub, depth + 1, walk)
        return
    if ctype == "text/calendar" and len(walk.calendar) < MAX_CALENDAR_PARTS:
        walk.calendar.append(_payload_bytes(part))  # iTIP: mapping reads the invitation
    if _is_attachment(part, ctype):
        walk.attachments.append(_attachment_info(part, ctype))
        return
    if ctype == "text/plain" and walk.plain is None:
        walk.plain = decode_text(_payload_bytes(part), part.get_content_charset())
    elif ctype == "text/html" and walk.html is None:
        walk.html = html_to_text(decode_text(_payload_bytes(part), part.get_content_charset()))


def _is_attachment(part: Message, ctype: str) -> bool:
    """Return whether a leaf part is an attachment rather than the text body."""
    if ctype not in ("text/plain", "text/html"):
        return True
    disposition = _raw_header(part, "content-disposition").split(";")[0].strip().lower()
    return disposition == "attachment" or part.get_filename() is not None


def _raw_header(part: Message, name: str) -> str:
    """Return a part's header as a plain str (compat32 gives 8-bit ones as ``Header``)."""
    value = part.get(name)
    return "" if value is None else str(value)


def _payload_bytes(part: Message) -> bytes:
    """Return a leaf part's transfer-decoded bytes (compat32 tolerates bad encodings)."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _attachment_info(part: Message, ctype: str) -> AttachmentInfo:
    """Describe an attachment without decoding it: decoded size is estimated."""
    filename = part.get_filename()
    payload = part.get_payload()
    if isinstance(payload, list):  # message/rfc822: the enclosed mail
        size = sum(len(str(sub)) for sub in payload)
    else:
        size = len(payload) if isinstance(payload, str) else 0
        if _raw_header(part, "content-transfer-encoding").strip().lower() == "base64":
            size = size * 3 // 4
    if filename is not None:
        filename = decode_words(_unsurrogate(filename))
    return AttachmentInfo(filename=filename, content_type=ctype, size=size)
