"""mime.parse_message: real-world corpora, damaged input, limits; never an exception."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crmsync.connectors import mime
from crmsync.connectors.base import MailMessage, Unreadable
from crmsync.connectors.mime import MAX_TEXT_CHARS, TRUNCATED_MARKER, parse_message
from tests.connectors import mail

DATA = Path(__file__).resolve().parents[1] / "data" / "mail"


def _cpython_corpus() -> list[Path]:
    try:
        import test.test_email
    except ImportError:  # Debian-style installs may leave out the test package
        return []
    folder = Path(os.path.dirname(test.test_email.__file__)) / "data"
    return sorted(folder.glob("msg_*.txt"))


CPYTHON = _cpython_corpus()


def parse(raw: bytes) -> MailMessage | Unreadable:
    return parse_message(raw, item_id="t#0", folder="t")


def test_cpython_corpus_is_present():
    # The corpus test below must not pass vacuously.
    assert len(CPYTHON) > 40, "CPython's test.test_email data is missing from this Python"


@pytest.mark.parametrize("path", CPYTHON, ids=lambda p: p.name)
def test_cpython_email_corpus_parses(path):
    # Every message CPython tests its email package with gives a record, never an exception.
    result = parse(path.read_bytes())
    assert isinstance(result, (MailMessage, Unreadable))
    if isinstance(result, Unreadable):
        assert result.reason and result.raw == path.read_bytes()


@pytest.mark.parametrize("path", sorted(DATA.glob("*.eml")), ids=lambda p: p.name)
def test_damaged_real_mail_still_parses(path):
    # Broken boundaries, broken header lines and 8-bit headers: lenient like mail clients.
    result = parse(path.read_bytes())
    assert isinstance(result, MailMessage), getattr(result, "reason", "")
    assert result.headers.get("from")


def test_eight_bit_header_survives_as_text():
    # Raw UTF-8 bytes in a header come out as text; RFC 2047 words stay encoded.
    raw = "From: Jürgen <j@example.de>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nx".encode()
    result = parse(raw)
    assert result.headers["from"] == "Jürgen <j@example.de>"
    assert result.headers["subject"] == "=?utf-8?q?Gr=C3=BC=C3=9Fe?="
    assert mime.decode_words(result.headers["subject"]) == "Grüße"


def test_latin1_header_bytes_fall_back():
    # Bytes that are not UTF-8 are read as Latin-1 rather than lost.
    result = parse(b"From: J\xfcrgen <j@example.de>\r\n\r\nx")
    assert result.headers["from"] == "Jürgen <j@example.de>"


def test_headers_first_occurrence_unfolded_lowercase():
    # Only HEADER_FIELDS are kept, the first of duplicates, folded lines joined.
    raw = b"Subject: one\r\n two\r\nSubject: later\r\nX-Other: no\r\nFrom: a@b\r\n\r\nbody"
    assert parse(raw).headers == {"subject": "one two", "from": "a@b"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b"\r\n\r\n  \r\n", "empty message"),
        (mail.NOT_A_MAIL, "no mail header fields"),
        (b"From: a@b\r\nSubject: \x00\x01\x02\r\n\r\nx", "NUL bytes"),
        (b"X-Only: field\r\n\r\nbody", "no mail header fields"),
    ],
)
def test_not_a_mail_is_unreadable(raw, reason):
    # Input that is no mail gives Unreadable with a one-line reason and the raw bytes.
    result = parse(raw)
    assert isinstance(result, Unreadable) and reason in result.reason
    assert result.raw == raw and "\n" not in result.reason


def test_bodies_like_imap():
    # Plain, alternative, HTML-only, GB2312 base64 and quoted-printable text.
    assert parse(mail.alternative()).body_text == "plain version"
    assert parse(mail.html_only()).body_text == "Hello Ana & team\n\nsecond line"
    assert parse(mail.gb2312_base64()).body_text == "你好，世界。客户：张三 镕"
    assert parse(mail.quoted_printable()).body_text.startswith("Grüße aus München")


def test_attachment_metadata():
    # Filename (RFC 2231), type and decoded size estimate; the text is the body.
    result = parse(mail.with_attachment(30_000))
    [attachment] = result.attachments
    assert attachment.filename == "Angebot ü.pdf" and attachment.content_type == "application/pdf"
    assert 29_000 < attachment.size < 31_500
    assert result.body_text == "see attached"


def test_long_text_is_truncated_with_marker():
    # Text beyond the cap is cut and marked.
    result = parse(mail.plain(1, body="y" * (MAX_TEXT_CHARS + 10)))
    assert len(result.body_text) == MAX_TEXT_CHARS + len(TRUNCATED_MARKER)
    assert result.body_text.endswith(TRUNCATED_MARKER)


def test_deep_nesting_is_bounded():
    # 200 nested multiparts: the walk stops at MAX_DEPTH and still returns a record.
    depth = 200
    head = b"From: a@b\r\nSubject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    opening = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(depth)
    )
    inner = b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep text\r\n" % depth
    closing = b"".join(b"--b%d--\r\n" % i for i in range(depth, -1, -1))
    result = parse(head + opening + inner + closing)
    assert isinstance(result, (MailMessage, Unreadable))
    if isinstance(result, MailMessage):
        assert result.body_text is None  # below the depth limit, so never reached


def test_many_parts_are_bounded():
    # 3000 attachments: only MAX_PARTS parts are read.
    parts = b"".join(
        b"--z\r\nContent-Type: application/octet-stream\r\n\r\nAAAA\r\n" for _ in range(3000)
    )
    raw = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n" + parts + b"--z--\r\n"
    result = parse(raw)
    assert isinstance(result, MailMessage) and len(result.attachments) < mime.MAX_PARTS


def test_content_hash_depends_on_headers_and_text():
    # Same headers and text: same hash; a different body: a different hash.
    one, two = parse(mail.plain(1)), parse(mail.plain(1, body="other"))
    assert one.content_hash == parse(mail.plain(1).replace(b"\r\n", b"\n")).content_hash
    assert one.content_hash != two.content_hash


def test_unknown_charset_falls_back():
    # An unknown charset label decodes as UTF-8 (else Windows-1252), never raises.
    raw = b"From: a@b\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\ncaf\xe9"
    assert parse(raw).body_text == "café"
