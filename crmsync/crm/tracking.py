"""Tracking: a person links a mail to a record, or unlinks it, and automation respects both.

Rules (DESIGN.md "explainable links"):

- Tracking by internet message id is idempotent: tracking the same mail to the same
  record twice leaves one ``ActivityLink(source="user")``. Tracking a record that
  automation had already linked turns that link into the person's.
- Untracking removes the link to that one record and writes a :class:`LinkRemoval`,
  so automation never links the mail to that record again (see
  :func:`honour_removals`, run as a page hook after every stored page).
- Track on send keeps a :class:`TrackIntent` until the sent mail is stored;
  :func:`fulfil_intents` links it inside the page's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from crmsync.crm.addin_models import LinkRemoval, TrackIntent
from crmsync.crm.models import (
    Account,
    Activity,
    ActivityLink,
    ActivityParticipant,
    Case,
    Contact,
    Opportunity,
    User,
)
from crmsync.mapping.threads import parse_message_ids

TARGET_COLUMNS = {
    "contact": "contact_id",
    "account": "account_id",
    "opportunity": "opportunity_id",
    "case": "case_id",
}
#: a sent mail's Date may be this much earlier than the intent (client clock skew)
SEND_SKEW = timedelta(minutes=10)
TARGET_MODELS: dict[str, type] = {
    "contact": Contact,
    "account": Account,
    "opportunity": Opportunity,
    "case": Case,
}


@dataclass(frozen=True)
class Target:
    """One CRM record a mail can belong to: a kind and the record's primary key."""

    kind: str
    id: int

    def columns(self) -> dict[str, int]:
        """Keyword arguments setting the one typed column of a link-like row."""
        return {TARGET_COLUMNS[self.kind]: self.id}


def target_of(row: Any) -> Target | None:
    """Return the target of a link, removal or intent row (exactly one column is set)."""
    for kind, column in TARGET_COLUMNS.items():
        value = getattr(row, column)
        if value is not None:
            return Target(kind, value)
    return None


def normalize_message_id(raw: str | None) -> str | None:
    """Return ``<id>`` for a Message-ID given with or without angle brackets."""
    ids = parse_message_ids(raw)
    return ids[0] if ids else None


def find_activity(session: Session, internet_message_id: str | None) -> Activity | None:
    """Return the stored mail with that internet message id, if crmsync holds it."""
    message_id = normalize_message_id(internet_message_id)
    if message_id is None:
        return None
    return session.scalars(
        select(Activity).where(
            or_(Activity.dedupe_key == f"mid:{message_id}",
                Activity.internet_message_id == message_id)
        ).order_by(Activity.id)
    ).first()


@dataclass(frozen=True)
class ItemSummary:
    """What the pane knows of an Outlook item, enough to store it if crmsync has not yet."""

    internet_message_id: str
    subject: str = ""
    occurred_at: datetime | None = None
    direction: str = "inbound"
    conversation: str = ""
    #: (address, display name, role) with role from/to/cc
    participants: Sequence[tuple[str, str, str]] = field(default_factory=tuple)


def ensure_activity(session: Session, item: ItemSummary, now: datetime) -> Activity:
    """Return the activity for ``item``, storing it now when no sync has brought it yet.

    The dedupe key is the one the sync engine uses (``mid:<id>``), so when the same
    mail arrives through a mailbox later it merges into this row instead of doubling.
    """
    message_id = normalize_message_id(item.internet_message_id)
    if message_id is None:
        raise ValueError("an internet message id is required")
    existing = find_activity(session, message_id)
    if existing is not None:
        return existing
    activity = Activity(
        kind="email", dedupe_key=f"mid:{message_id}"[:1000], internet_message_id=message_id,
        conversation=(item.conversation or message_id)[:1000], subject=item.subject,
        occurred_at=item.occurred_at or now, direction=item.direction, created_at=now,
    )
    seen: set[tuple[str, str]] = set()
    for address, name, role in item.participants:
        if (address, role) not in seen:
            seen.add((address, role))
            activity.participants.append(
                ActivityParticipant(address=address[:320], name=name[:300], role=role)
            )
    session.add(activity)
    session.flush()
    return activity


def _link_to(activity: Activity, target: Target) -> ActivityLink | None:
    return next((link for link in activity.links if target_of(link) == target), None)


def _forget_removal(session: Session, activity_id: int, target: Target) -> None:
    session.execute(
        delete(LinkRemoval).where(
            LinkRemoval.activity_id == activity_id,
            getattr(LinkRemoval, TARGET_COLUMNS[target.kind]) == target.id,
        )
    )


def track(
    session: Session, activity: Activity, target: Target, user_id: int, now: datetime
) -> tuple[ActivityLink, bool]:
    """Link ``activity`` to ``target`` as a person's decision; idempotent.

    :returns: the link and whether this call created it.
    """
    _forget_removal(session, activity.id, target)
    link = _link_to(activity, target)
    if link is not None:
        if link.source != "user":
            # The person confirms what automation guessed: it becomes theirs.
            link.source, link.created_by_id, link.confidence = "user", user_id, 1.0
            link.reason = "tracked by a person"
        return link, False
    link = ActivityLink(
        reason="tracked by a person", confidence=1.0, source="user", created_by_id=user_id,
        created_at=now, **target.columns(),
    )
    activity.links.append(link)
    session.flush()
    return link, True


def untrack(
    session: Session, activity: Activity, target: Target, user_id: int, now: datetime
) -> bool:
    """Remove the link of ``activity`` to ``target`` and remember that a person did.

    Links to other records stay. :returns: whether a link was removed.
    """
    link = _link_to(activity, target)
    if link is not None:
        activity.links.remove(link)
        session.delete(link)
    _forget_removal(session, activity.id, target)
    session.add(LinkRemoval(activity_id=activity.id, removed_by_id=user_id, removed_at=now,
                            **target.columns()))
    session.flush()
    return link is not None


def removed_targets(session: Session, activity_ids: Iterable[int]) -> set[tuple[int, Target]]:
    """Return the (activity id, target) pairs a person unlinked: automation must skip them."""
    ids = [i for i in activity_ids if i is not None]
    if not ids:
        return set()
    rows = session.scalars(select(LinkRemoval).where(LinkRemoval.activity_id.in_(ids)))
    return {(row.activity_id, target) for row in rows if (target := target_of(row))}


def honour_removals(session: Session, activities: Iterable[Activity]) -> int:
    """Drop automatic links that re-create a link a person removed; return how many."""
    activities = list(activities)
    removed = removed_targets(session, (a.id for a in activities))
    dropped = 0
    for activity in activities:
        for link in list(activity.links):
            target = target_of(link)
            if link.source == "auto" and target and (activity.id, target) in removed:
                activity.links.remove(link)
                session.delete(link)
                dropped += 1
    return dropped


def create_intent(session: Session, intent: TrackIntent) -> TrackIntent:
    """Store a track-on-send intent, once per (user, key, target)."""
    target = target_of(intent)
    keys = [
        (TrackIntent.conversation_id, intent.conversation_id),
        (TrackIntent.internet_message_id, intent.internet_message_id),
        (TrackIntent.item_id, intent.item_id),
    ]
    query = select(TrackIntent).where(
        TrackIntent.user_id == intent.user_id, TrackIntent.fulfilled_at.is_(None),
        *[column.is_(None) if value is None else column == value for column, value in keys],
    )
    if target is not None:
        query = query.where(getattr(TrackIntent, TARGET_COLUMNS[target.kind]) == target.id)
    existing = session.scalars(query).first()
    if existing is not None:
        return existing
    session.add(intent)
    session.flush()
    return intent


def _sender_of(activity: Activity) -> str | None:
    return next((p.address for p in activity.participants if p.role == "from"), None)


def _matching_intents(session: Session, activity: Activity, conversation_id: str | None):
    keys = [TrackIntent.internet_message_id == activity.internet_message_id]
    for conversation in {conversation_id, activity.conversation} - {None, ""}:
        keys.append(TrackIntent.conversation_id == conversation)
    return session.execute(
        select(TrackIntent, User.email).join(User, User.id == TrackIntent.user_id)
        .where(TrackIntent.fulfilled_at.is_(None), or_(*keys))
        .order_by(TrackIntent.id)
    ).all()


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _sent_after(activity: Activity, intent: TrackIntent) -> bool:
    """Whether the mail was sent after the intent was made (give or take clock skew)."""
    return _utc(activity.occurred_at) >= _utc(intent.created_at) - SEND_SKEW


def fulfil_intents(
    session: Session, sent: Iterable[tuple[Activity, str | None]], now: datetime
) -> int:
    """Link each sent mail to what its sender asked for in the compose pane.

    :param sent: stored outbound activities with the provider's conversation id.
    :returns: the number of intents fulfilled.
    """
    fulfilled = 0
    for activity, conversation_id in sent:
        if activity.internet_message_id is None and not conversation_id:
            continue
        sender = _sender_of(activity)
        for intent, email in _matching_intents(session, activity, conversation_id):
            if sender is not None and email.lower() != sender:
                continue  # someone else's reply in the same conversation
            if not _sent_after(activity, intent):
                continue  # an earlier mail of the conversation, stored again
            track(session, activity, target_of(intent), intent.user_id, now)
            intent.fulfilled_at, intent.activity_id = now, activity.id
            fulfilled += 1
    return fulfilled


def tracking_page_hook(session: Session, _mailbox: Any, writer: Any) -> None:
    """Page hook: honour removed links and fulfil track-on-send intents for a stored page.

    Runs inside the page's transaction (see ``sync_service.engine.hooks``), so what it
    changes commits with the page and its cursor.
    """
    stored = list(writer.stored)
    if not stored:
        return
    session.flush()
    now = writer.options.now
    honour_removals(session, {id(s.activity): s.activity for s in stored}.values())
    sent = [(s.activity, s.mail.conversation_id) for s in stored
            if s.activity.direction == "outbound"]
    fulfil_intents(session, sent, now)
