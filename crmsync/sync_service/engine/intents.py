"""Track on send, fulfilled: link a stored mail or meeting to what a rep chose for it.

The compose and appointment panes leave a :class:`~crmsync.crm.links.TrackIntent`
(:func:`crmsync.crm.tracking.create_intent`); the engine fulfils it here, inside the
transaction of the page that stores the sent mail or the meeting, so it happens
exactly once. The intent is found by conversation or message id (Graph, EWS) or by
the token the pane put in the draft's :data:`~crmsync.crm.tracking.TRACK_HEADER`
(any mail system, IMAP included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crmsync.crm.links import TrackIntent
from crmsync.crm.models import Activity, Mailbox, User, link_target
from crmsync.crm.tracking import SEND_SKEW, TRACK_HEADER, send_tokens, track
from crmsync.sync_service.engine.page import StoredMail, Writer


def _sender_of(activity: Activity) -> str | None:
    return next((p.address for p in activity.participants if p.role == "from"), None)


@dataclass(frozen=True)
class SentMail:
    """A stored outbound mail and what names its draft: conversation id, header tokens.

    :param load: returns the activity; called only when an intent names the mail.
    :param message_id: the activity's Message-ID, and ``conversation`` its conversation.
    """

    load: Callable[[], Activity]
    message_id: str | None
    conversation: str
    conversation_id: str | None = None
    send_tokens: tuple[str, ...] = ()


#: outbound mails whose open intents are read in one query (bounded IN lists)
INTENT_BATCH = 500


@dataclass(frozen=True)
class _MailKeys:
    """The values by which an intent names a sent mail."""

    message_id: str | None
    conversations: frozenset[str]
    tokens: frozenset[str]

    @classmethod
    def of(cls, sent: SentMail) -> _MailKeys:
        conversations = frozenset({sent.conversation_id, sent.conversation} - {None, ""})
        return cls(sent.message_id or None, conversations, frozenset(sent.send_tokens))

    def names(self, intent: TrackIntent) -> bool:
        """Whether ``intent`` waits for this mail (the SQL the batch query ran, per mail)."""
        return (
            (self.message_id is not None and intent.internet_message_id == self.message_id)
            or intent.conversation_id in self.conversations
            or intent.send_token in self.tokens
        )


def _open_intents(session: Session, sent: Sequence[SentMail]) -> list[tuple[TrackIntent, str]]:
    """Return the unfulfilled intents naming any of ``sent``, with their user's email."""
    keys = [_MailKeys.of(mail) for mail in sent]
    message_ids = {k.message_id for k in keys} - {None}
    conversations = set().union(*(k.conversations for k in keys))
    tokens = set().union(*(k.tokens for k in keys))
    wanted = []
    if message_ids:
        wanted.append(TrackIntent.internet_message_id.in_(sorted(message_ids)))
    if conversations:
        wanted.append(TrackIntent.conversation_id.in_(sorted(conversations)))
    if tokens:
        wanted.append(TrackIntent.send_token.in_(sorted(tokens)))
    if not wanted:
        return []
    rows = session.execute(
        select(TrackIntent, User.email).join(User, User.id == TrackIntent.user_id)
        .where(TrackIntent.fulfilled_at.is_(None), or_(*wanted))
        .order_by(TrackIntent.id)
    ).all()
    return [(intent, email) for intent, email in rows]


def _sent_after(activity: Activity, intent: TrackIntent) -> bool:
    """Whether the mail was sent after the intent was made (give or take clock skew)."""
    return activity.occurred_at >= intent.created_at - SEND_SKEW


def fulfil_intents(session: Session, sent: Iterable[SentMail], now: datetime) -> int:
    """Link each sent mail to what its sender asked for in the compose pane.

    Only the intent's own user sending the mail fulfils it: a token copied into
    someone else's mail, or another person's reply in the conversation, links nothing.
    The open intents for a whole batch of mail are read in one query (a page of
    backfill is hundreds of outbound mails and almost never names one), and a mail's
    sender is only looked at when an intent names it.

    :param sent: stored outbound activities with what names their draft.
    :returns: the number of intents fulfilled.
    """
    mails = list(sent)
    fulfilled = 0
    for start in range(0, len(mails), INTENT_BATCH):
        batch = mails[start:start + INTENT_BATCH]
        candidates = _open_intents(session, batch)
        for mail in batch if candidates else ():
            fulfilled += _fulfil_for(session, mail, candidates, now)
    return fulfilled


def _fulfil_for(session: Session, mail: SentMail,
                candidates: Sequence[tuple[TrackIntent, str]], now: datetime) -> int:
    """Fulfil the still-open ``candidates`` that name ``mail``; return how many."""
    keys = _MailKeys.of(mail)
    # Decided before any is fulfilled, in intent order, as one query per mail did.
    matching = [(i, e) for i, e in candidates if i.fulfilled_at is None and keys.names(i)]
    if not matching:
        return 0
    activity = mail.load()
    sender = _sender_of(activity)
    fulfilled = 0
    for intent, email in matching:
        if sender is not None and email.lower() != sender:
            continue  # someone else's reply in the same conversation
        if not _sent_after(activity, intent):
            continue  # an earlier mail of the conversation, stored again
        track(session, activity, link_target(intent), intent.user_id, now)
        intent.fulfilled_at, intent.activity_id = now, activity.id
        fulfilled += 1
    return fulfilled


def fulfil_meeting_intents(
    session: Session, activity: Activity, item_id: str | None, now: datetime
) -> int:
    """Link a meeting just stored to what reps chose for it in the appointment pane.

    :param item_id: this calendar's id for the event (EWS or Graph form; for an
        imported .ics, its UID).
    :returns: the number of intents fulfilled.
    """
    keys = [TrackIntent.ical_uid == activity.ical_uid] if activity.ical_uid else []
    if item_id:
        keys += [TrackIntent.item_id == item_id, TrackIntent.rest_item_id == item_id]
    if not keys:
        return 0
    intents = session.scalars(
        select(TrackIntent).where(TrackIntent.fulfilled_at.is_(None), or_(*keys))
        .order_by(TrackIntent.id)
    ).all()
    if intents:
        session.flush()  # a meeting stored in this page needs its id
    for intent in intents:
        track(session, activity, link_target(intent), intent.user_id, now)
        intent.fulfilled_at, intent.activity_id = now, activity.id
    return len(intents)


def fulfil_mailbox_intents(session: Session, owner_id: int, stored: Sequence[StoredMail],
                           now: datetime) -> int:
    """Link mail its mailbox's owner tracked before crmsync held it (or could show it).

    ``POST /track`` of an unknown Message-ID leaves an intent of the caller's; it is
    fulfilled only by that mail coming from one of the caller's own mailboxes, so
    tracking can never reach into another person's mail, and what is linked is the
    synced mail. One query per :data:`INTENT_BATCH` mails.
    """
    by_message_id = {s.activity_facts.message_id: s for s in stored
                     if s.activity_facts.message_id}
    ids = sorted(by_message_id)
    fulfilled = 0
    for start in range(0, len(ids), INTENT_BATCH):
        intents = session.scalars(select(TrackIntent).where(
            TrackIntent.fulfilled_at.is_(None), TrackIntent.user_id == owner_id,
            TrackIntent.internet_message_id.in_(ids[start:start + INTENT_BATCH]),
        ).order_by(TrackIntent.id)).all()
        if intents:
            session.flush()  # the page's activities need their ids before they are linked
        for intent in intents:
            activity = by_message_id[intent.internet_message_id].activity
            track(session, activity, link_target(intent), intent.user_id, now)
            intent.fulfilled_at, intent.activity_id = now, activity.id
            fulfilled += 1
    return fulfilled


def tracking_page_hook(session: Session, mailbox: Mailbox | None, writer: Writer) -> None:
    """Page hook: fulfil the intents of the page's mail: those its mailbox's owner left
    for a Message-ID, then track-on-send intents for its outbound mail.

    Runs inside the page's transaction (a :class:`~.page.PageHook`), so what it
    changes commits with the page and its cursor.
    """
    if mailbox is not None and mailbox.owner_id is not None and writer.stored:
        fulfil_mailbox_intents(session, mailbox.owner_id, writer.stored, writer.options.now)
    sent = [
        SentMail(partial(getattr, s, "activity"), s.activity_facts.message_id,
                 s.activity_facts.conversation, s.mail.conversation_id,
                 send_tokens(s.mail.headers.get(TRACK_HEADER.lower())))
        for s in writer.stored if s.activity_facts.direction == "outbound"
    ]
    if sent:
        session.flush()  # the page's activities need their ids before they are linked
        fulfil_intents(session, sent, writer.options.now)
