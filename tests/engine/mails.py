"""Build test mails as bytes, the way mail clients write them."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from tests.conftest import SAMPLES

BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ANA = ("Ana Ruiz", "ana.ruiz@acme.example")
TOM = ("Tom Becker", "tom.becker@acme.example")
HANK = ("Hank Scorpio", "hank@globex.example")
MARIA = ("Maria Lopez", "maria.lopez@northwind.example")
WEI = ("Zhang Wei", "wei.zhang@northwind.example")


def make_mail(
    n: int,
    sender: tuple[str, str] = ANA,
    to: tuple[tuple[str, str], ...] = (MARIA,),
    subject: str | None = None,
    body: str = "Hello,\n\nsee below.\n",
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
) -> bytes:
    """Return mail number ``n``: unique Message-ID and Date unless given."""
    msg = EmailMessage()
    msg["From"] = formataddr(sender)
    msg["To"] = ", ".join(formataddr(t) for t in to)
    msg["Subject"] = subject or f"Order {n}"
    msg["Date"] = format_datetime(BASE + timedelta(minutes=n))
    msg["Message-ID"] = message_id or f"<m{n}@test.example>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return bytes(msg)


def sample_mailbox() -> list[bytes]:
    """The demo mailbox's messages as raw bytes."""
    box = mailbox.mbox(Path(SAMPLES / "mailbox.mbox"), create=False)
    try:
        return [bytes(m) for m in box]
    finally:
        box.close()
