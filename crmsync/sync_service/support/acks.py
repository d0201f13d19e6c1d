"""Queue acknowledgements and alert mails in the outbox, inside the deciding transaction.

Nothing is sent here: the outbox row commits (or rolls back) with the case that
caused it and :mod:`.outbox` delivers it after the commit, so a crash can neither
send an acknowledgement for a case that was never stored nor lose one for a case
that was.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.models import Case, Contact, Mailbox
from crmsync.crm.support import OutboxMessage, count_outbox
from crmsync.crm.templates import ReplyTemplate
from crmsync.mapping.cases import case_marker, case_subject, case_token
from crmsync.mapping.loops import SenderKind, ack_refusal, stale_refusal
from crmsync.mapping.subjects import normalize_subject
from crmsync.sync_service.support.settings import SupportSettings
from crmsync.sync_service.support.transports import send_refusal

DEFAULT_ACK_SUBJECT = "Re: {subject}"
DEFAULT_ACK_BODY = (
    "Hello {contact_first_name},\n\n"
    "thank you for your message. We have opened case {case_number} for it and will answer "
    "as soon as we can. Please keep {case_token} in the subject when you write about it.\n\n"
    "This is an automatic reply; please do not answer it only to say thanks."
)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Draft:
    """A message to queue: who from and to, what, and its idempotency key."""

    key: str
    kind: str
    case_id: int | None
    mailbox_id: int | None
    from_address: str
    to_address: str
    subject: str = ""
    body: str = ""
    in_reply_to: str = ""
    #: when the mail it answers arrived (see ``OutboxMessage.event_at``)
    event_at: datetime | None = None


def render(text: str, values: dict[str, str]) -> str:
    """Fill ``{name}`` placeholders; unknown ones stay as written (no format-string tricks)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def new_message_id(from_address: str) -> str:
    """Return a Message-ID for one outbox row, fixed when the row is created."""
    domain = from_address.rpartition("@")[2] or "crmsync.invalid"
    return f"<crmsync.{uuid.uuid4().hex}@{domain}>"


def queue(session: Session, draft: Draft, now: datetime, reason: str = "") -> OutboxMessage:
    """Add ``draft`` to the outbox once per key; ``reason`` queues it as suppressed."""
    existing = session.scalars(select(OutboxMessage).where(OutboxMessage.key == draft.key)).first()
    if existing is not None:
        return existing
    row = OutboxMessage(
        key=draft.key, kind=draft.kind, case_id=draft.case_id, mailbox_id=draft.mailbox_id,
        from_address=draft.from_address, to_address=draft.to_address,
        subject=" ".join(draft.subject.split()), body=draft.body,
        message_id=new_message_id(draft.from_address), in_reply_to=draft.in_reply_to,
        status="suppressed" if reason else "pending", reason=reason, attempts=0,
        created_at=now, event_at=draft.event_at,
    )
    session.add(row)
    session.flush()
    return row


def queue_acknowledgement(
    session: Session, case: Case, mailbox: Mailbox, sender: tuple[SenderKind, str],
    context: tuple[SupportSettings, str, datetime, datetime],
) -> OutboxMessage:
    """Queue the acknowledgement of a new case, or record why none is sent.

    Mail that arrived before the mailbox was connected, or longer ago than the
    ``ack_max_age_hours`` setting, opens its case silently (the row is queued as
    suppressed, with the reason); the per-sender limits count acknowledgements by the
    arrival of the mail they answer.

    :param sender: what kind of sender wrote the mail, and the address.
    :param context: settings, the Message-ID being answered, when that mail arrived, now.
    """
    kind, address = sender
    settings, answered_id, arrived, now = context
    refusal = stale_refusal(arrived, mailbox.created_at, now, settings.ack_max_age) \
        or ack_refusal(
            kind,
            count_outbox(session, address, "ack", arrived, timedelta(hours=1)),
            count_outbox(session, address, "ack", arrived, timedelta(days=1)),
            settings.ack_limits,
        ) or send_refusal(mailbox)
    from_address = _reply_from(session, case) or mailbox_address(mailbox)
    subject, body = _ack_text(session, case, settings.ack_template)
    draft = Draft(
        key=f"ack:{case.id}", kind="ack", case_id=case.id, mailbox_id=mailbox.id,
        from_address=from_address, to_address=address,
        subject=case_subject(subject, case.number),
        body=f"{body}\n\n[{case_marker(case.number)}]\n", in_reply_to=answered_id,
        event_at=arrived,
    )
    return queue(session, draft, now, refusal)


def _ack_text(session: Session, case: Case, template_name: str) -> tuple[str, str]:
    template = session.scalars(
        select(ReplyTemplate).where(ReplyTemplate.name == template_name)
    ).first()
    contact = session.get(Contact, case.contact_id) if case.contact_id else None
    values = {
        "case_number": case.number, "case_token": case_token(case.number),
        "subject": normalize_subject(case.subject) or case.subject,
        "contact_first_name": (contact.first_name if contact else "") or "there",
        "contact_name": contact.full_name if contact else "",
    }
    subject = template.subject if template and template.subject else DEFAULT_ACK_SUBJECT
    body = template.body if template and template.body else DEFAULT_ACK_BODY
    return render(subject, values), render(body, values)


def _reply_from(session: Session, case: Case) -> str:
    from crmsync.crm.support import SupportCase

    support = session.get(SupportCase, case.id)
    return support.reply_from if support else ""


def mailbox_address(mailbox: Mailbox) -> str:
    """The mailbox's own address (its ``address``, else a username that is one)."""
    settings = mailbox.settings or {}
    for key in ("address", "username"):
        value = str(settings.get(key) or "")
        if "@" in value:
            return value
    return ""
