"""Small builders of raw test mail."""

from __future__ import annotations

import base64


def plain(n: int, subject: str | None = None, body: str | None = None) -> bytes:
    """Return a plain-text mail with Message-ID ``<m{n}@test>``."""
    return (
        f"From: Sender {n} <s{n}@example.com>\r\nTo: rep@crm.test\r\n"
        f"Subject: {subject or f'message {n}'}\r\nMessage-ID: <m{n}@test>\r\n"
        f"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n{body or f'body {n}'}\r\n"
    ).encode()


HEAD = "From: a@example.com\r\nTo: b@example.com\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"


def alternative() -> bytes:
    """Return a multipart/alternative mail (plain + HTML)."""
    return (
        HEAD.format(subject="alt") + 'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain version\r\n"
        "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html version</p>\r\n"
        "--b1--\r\n"
    ).encode()


def html_only() -> bytes:
    """Return an HTML-only mail with a script, entities and block elements."""
    return (
        HEAD.format(subject="html") + "Content-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><head><style>p {color: red}</style></head><body>"
        "<p>Hello&nbsp;<b>Ana</b> &amp; team</p><script>alert(1)</script>"
        "<div>second line</div></body></html>\r\n"
    ).encode()


def gb2312_base64() -> bytes:
    """Return a mail whose text is GB2312 (a GBK-only character too) in base64."""
    text = "你好，世界。客户：张三 镕".encode("gbk")
    return (
        HEAD.format(subject="=?gb2312?b?" + base64.b64encode("问候".encode("gbk")).decode() + "?=")
        + "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(text).decode().replace("\n", "\r\n")
    ).encode()


def quoted_printable() -> bytes:
    """Return a Latin-1 quoted-printable mail with a soft line break."""
    return (
        HEAD.format(subject="qp")
        + "Content-Type: text/plain; charset=iso-8859-1\r\n"
        + "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + "Gr=FC=DFe aus M=FCnchen, this line is long and soft=\r\n-broken.\r\n"
    ).encode()


def with_attachment(size: int) -> bytes:
    """Return a mail with a short text and a ``size``-byte PDF attachment (base64)."""
    payload = base64.encodebytes(bytes(range(256)) * (size // 256)).decode()
    return (
        HEAD.format(subject="attachment")
        + 'Content-Type: multipart/mixed; boundary="mix"\r\n\r\n'
        + "--mix\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nsee attached\r\n"
        + '--mix\r\nContent-Type: application/pdf; name="quote.pdf"\r\n'
        + "Content-Disposition: attachment; filename*=utf-8''Angebot%20%C3%BC.pdf\r\n"
        + "Content-Transfer-Encoding: base64\r\n\r\n"
        + payload.replace("\n", "\r\n")
        + "--mix--\r\n"
    ).encode()


NOT_A_MAIL = b"this is not a mail, just a line of text\r\nand another\r\n"
