"""An agent answers a case through crmsync: from the API, the task pane or the CLI.

The reply is queued in the outbox (kind ``reply``) and sent by the case's support
mailbox (SMTP or Graph, exactly once: :mod:`.outbox`), with the case token in the
subject and In-Reply-To/References naming the customer's last mail. In the same
transaction the very mail that will be sent is stored through the engine's own
pipeline, as a mail of the support mailbox (its activity, participants, thread keys
and links are what a synced copy would have), so the support hook files it on the case
and takes it as the first response, at once; a copy the provider files in Sent Items
later is the same activity (same Message-ID).

Who may answer (:func:`check_may_reply`): the viewer must see the customer's mail on the
case (the visibility rule of :mod:`crmsync.crm.visibility`; a private item only its
owner): else 404, as if the case were not there. A case routed to a queue is answered
by that queue's team, its owner, admins and managers: anyone else gets 403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.connectors.base import Page
from crmsync.connectors.mime import parse_message
from crmsync.crm.links import ActivityThreadKey
from crmsync.crm.models import Activity, ActivityLink, ActivityParticipant, Case, Mailbox
from crmsync.crm.support import OutboxMessage, SupportCase
from crmsync.crm.visibility import Viewer, visible_activities
from crmsync.errors import UserError
from crmsync.mapping.cases import case_marker, case_subject
from crmsync.mapping.subjects import normalize_subject
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.isolate import store_page
from crmsync.sync_service.engine.page import Origin, WriteOptions
from crmsync.sync_service.engine.run import matching_for, run_page_hooks
from crmsync.sync_service.engine.store import PageWriter
from crmsync.sync_service.support.acks import Draft, mailbox_address, queue
from crmsync.sync_service.support.transports import build_message, send_refusal

#: the longest reply body taken (characters), as a reply template's
MAX_REPLY_CHARS = 20_000
#: roles that answer any case, whatever its queue
ANSWER_ANY = frozenset({"admin", "manager"})
#: the folder the stored copy is filed under: crmsync sent it
OUTBOX_FOLDER = "crmsync outbox"


class ReplyRefusedError(UserError):
    """The reply is not taken; ``status`` is the HTTP answer (400, 403, 404, 409)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ReplyRequest:
    """An agent's reply: to which case, what it says, and an optional client key that
    makes a repeated request (a double click, a retry) the same reply."""

    case_number: str
    body: str
    client_key: str = ""


@dataclass(frozen=True)
class QueuedReply:
    """What was queued: the case, the outbox row, the stored activity."""

    case_number: str
    outbox_id: int
    message_id: str
    activity_id: int | None
    status: str


def queue_reply(services: Services, session: Session, viewer: Viewer, request: ReplyRequest,
                now: datetime) -> QueuedReply:
    """Queue ``viewer``'s reply on a case and store it on the case (see the module docstring).

    :raises ReplyRefusedError: not allowed, not answerable, or an empty or oversized body.
    """
    body = request.body.strip()
    if not body:
        raise ReplyRefusedError("the reply is empty", 400)
    if len(request.body) > MAX_REPLY_CHARS:
        raise ReplyRefusedError(f"the reply is longer than {MAX_REPLY_CHARS} characters", 400)
    case, support, last = check_may_reply(session, viewer, request.case_number)
    mailbox = session.get(Mailbox, support.mailbox_id) if support.mailbox_id else None
    if mailbox is None or mailbox.removed_at is not None:
        raise ReplyRefusedError(f"{case.number} has no support mailbox to answer from", 409)
    refusal = send_refusal(mailbox)
    if refusal:
        raise ReplyRefusedError(refusal, 409)
    key = f"reply:{case.id}:{viewer.id}:{request.client_key or uuid.uuid4().hex}"[:300]
    earlier = session.scalars(select(OutboxMessage).where(OutboxMessage.key == key)).first()
    if earlier is not None:
        return _queued(case, earlier, session)
    row = queue(session, _draft(session, (case, support, mailbox), last, body, key), now)
    _store_sent_copy(services, session, mailbox, row, now)
    return _queued(case, row, session)


def check_may_reply(session: Session, viewer: Viewer,
                    number: str) -> tuple[Case, SupportCase, Activity]:
    """Return the case, its support record and the customer's last mail the viewer sees.

    :raises ReplyRefusedError: 404 (absent, or no customer mail the viewer may see),
        403 (another team's queue), 409 (not a support case).
    """
    case = session.scalars(select(Case).where(Case.number == number.strip().upper())).first()
    if case is None:
        raise ReplyRefusedError(f"no case {number}", 404)
    last = session.scalars(
        select(Activity).join(ActivityLink, ActivityLink.activity_id == Activity.id)
        .where(ActivityLink.case_id == case.id, Activity.direction == "inbound",
               visible_activities())
        .order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(1),
        viewer.seen_by,
    ).first()
    if last is None:
        raise ReplyRefusedError(f"no case {number} with customer mail you may answer", 404)
    support = session.get(SupportCase, case.id)
    if support is None:
        raise ReplyRefusedError(f"{case.number} is not a support case: answer it by mail", 409)
    if not _may_answer(viewer, case, support):
        raise ReplyRefusedError(f"{case.number} is in another team's queue", 403)
    return case, support, last


def _may_answer(viewer: Viewer, case: Case, support: SupportCase) -> bool:
    if viewer.role in ANSWER_ANY or case.owner_id == viewer.id:
        return True
    return support.team_id is None or support.team_id == viewer.team_id


def _draft(session: Session, where: tuple[Case, SupportCase, Mailbox], last: Activity,
           body: str, key: str) -> Draft:
    case, support, mailbox = where
    sender = next((p.address for p in _participants(session, last) if p.role == "from"),
                  support.requester)
    subject = case_subject(f"Re: {normalize_subject(case.subject) or case.subject}",
                           case.number)
    return Draft(
        key=key, kind="reply", case_id=case.id, mailbox_id=mailbox.id,
        from_address=support.reply_from or mailbox_address(mailbox), to_address=sender,
        subject=subject, body=f"{body}\n\n[{case_marker(case.number)}]\n",
        in_reply_to=" ".join(_references(session, last)),
    )


def _participants(session: Session, activity: Activity) -> list[ActivityParticipant]:
    return list(session.scalars(select(ActivityParticipant).where(
        ActivityParticipant.activity_id == activity.id).order_by(ActivityParticipant.id)))


def _references(session: Session, last: Activity) -> list[str]:
    """The customer mail's own References, then its Message-ID (RFC 5322 3.6.4)."""
    refs = session.scalars(select(ActivityThreadKey.key).where(
        ActivityThreadKey.activity_id == last.id, ActivityThreadKey.key.like("ref:<%"))
        .order_by(ActivityThreadKey.id)).all()
    chain = [ref[len("ref:"):] for ref in refs]
    if last.internet_message_id:
        chain.append(last.internet_message_id)
    return list(dict.fromkeys(chain))[-20:]


def _store_sent_copy(services: Services, session: Session, mailbox: Mailbox,
                     row: OutboxMessage, now: datetime) -> None:
    """Store the mail as it will be sent, through the pipeline a synced copy takes."""
    raw = build_message(row).as_bytes()
    mail = parse_message(raw, item_id=f"outbox:{row.id}", folder=OUTBOX_FOLDER,
                         received_at=now, folder_role="sent")
    directory, policy = matching_for(services, session, mailbox)
    page = Page(resource=OUTBOX_FOLDER, changes=[mail], cursor="")
    store_page(session, page,
               partial(PageWriter, session, Origin(key=f"mailbox:{mailbox.id}",
                                                   mailbox_id=mailbox.id),
                       directory, WriteOptions(now=now, policy=policy)),
               partial(run_page_hooks, services, session, mailbox))


def _queued(case: Case, row: OutboxMessage, session: Session) -> QueuedReply:
    activity_id = session.scalar(select(Activity.id).where(
        Activity.internet_message_id == row.message_id))
    return QueuedReply(case.number, row.id, row.message_id, activity_id, row.status)
