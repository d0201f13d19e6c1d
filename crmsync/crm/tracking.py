"""Tracking: a person links a mail to a record, or unlinks it, and automation respects both.

Rules (every automatic link explains itself; a person's choice is never overridden):

- Tracking by internet message id is idempotent: tracking the same mail to the same
  record twice leaves one ``ActivityLink(source="user")``. Tracking a record that
  automation had already linked turns that link into the person's.
- Untracking removes the link to that one record and writes a :class:`LinkRemoval`;
  the page writer consults :func:`removed_targets` whenever it merges automatic links
  into a stored activity, so automation never links the mail to that record again.
- Track on send keeps a :class:`TrackIntent` (:func:`create_intent`) until the sent
  mail is stored; the engine fulfils it inside that page's transaction, finding it by
  conversation or message id (Graph, EWS) or by the token the pane put in the draft's
  :data:`TRACK_HEADER` (any mail system, IMAP included).
- Linking a meeting from the appointment pane links it now when crmsync holds it
  (:func:`find_meeting`), else when the engine stores the meeting.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from crmsync.crm.links import LinkRemoval, TrackIntent
from crmsync.crm.models import (
    LINK_TARGET_COLUMNS,
    Account,
    Activity,
    ActivityLink,
    ActivitySource,
    Case,
    Contact,
    Opportunity,
    link_columns,
    link_target,
)
from crmsync.crm.visibility import visible_activities
from crmsync.mapping.links import Target  # the surfaces name targets from here too
from crmsync.mapping.threads import parse_message_ids

#: the header the compose pane sets on the draft (Office.js ``item.internetHeaders``,
#: Mailbox 1.8); its value is one or more opaque send tokens, never a record's name
TRACK_HEADER = "X-CRMSync-Track"
_SEND_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: at most this many tokens are read from one header (a hostile mail may hold many)
MAX_SEND_TOKENS = 8
#: a sent mail's Date may be this much earlier than the intent (client clock skew)
SEND_SKEW = timedelta(minutes=10)
TARGET_MODELS: dict[str, type] = {
    "contact": Contact,
    "account": Account,
    "opportunity": Opportunity,
    "case": Case,
}


def normalize_message_id(raw: str | None) -> str | None:
    """Return ``<id>`` for a Message-ID given with or without angle brackets."""
    ids = parse_message_ids(raw)
    return ids[0] if ids else None


def find_activity(session: Session, internet_message_id: str | None, *,
                  seen_by: Mapping[str, Any] | None) -> Activity | None:
    """Return the stored mail with that internet message id, if crmsync holds it and the
    viewer may see it (``seen_by``: :func:`~crmsync.crm.visibility.viewer_params`;
    ``None`` only for code acting for the organization).
    """
    message_id = normalize_message_id(internet_message_id)
    if message_id is None:
        return None
    query = select(Activity).where(
        or_(Activity.dedupe_key == f"mid:{message_id}",
            Activity.internet_message_id == message_id)
    ).order_by(Activity.id)
    if seen_by is not None:
        query = query.where(visible_activities())
    return session.scalars(query, dict(seen_by or {})).first()


def _link_to(activity: Activity, target: Target) -> ActivityLink | None:
    return next((link for link in activity.links if link_target(link) == target), None)


def _forget_removal(session: Session, activity_id: int, target: Target) -> None:
    session.execute(
        delete(LinkRemoval).where(
            LinkRemoval.activity_id == activity_id,
            getattr(LinkRemoval, LINK_TARGET_COLUMNS[target.kind]) == target.id,
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
        created_at=now, **link_columns(target),
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
                            **link_columns(target)))
    session.flush()
    return link is not None


def removed_targets(session: Session, activity_ids: Iterable[int]) -> dict[int, set[Target]]:
    """Return, by activity id, the targets a person unlinked: automation must skip them.

    One query; none when no id is given (an activity not stored yet has no removals).
    Activities nobody unlinked anything from are absent.
    """
    ids = [i for i in activity_ids if i is not None]
    removed: dict[int, set[Target]] = {}
    if not ids:
        return removed
    for row in session.scalars(select(LinkRemoval).where(LinkRemoval.activity_id.in_(ids))):
        target = link_target(row)
        if target is not None:
            removed.setdefault(row.activity_id, set()).add(target)
    return removed


#: the columns naming what an intent waits for
INTENT_KEYS = ("conversation_id", "internet_message_id", "item_id", "rest_item_id", "ical_uid",
               "send_token")


def new_send_token() -> str:
    """Return a fresh opaque token for a draft's :data:`TRACK_HEADER` (unguessable)."""
    return secrets.token_urlsafe(24)


def send_tokens(header: str | None) -> tuple[str, ...]:
    """Return the send tokens in a :data:`TRACK_HEADER` value (untrusted text)."""
    return tuple(_SEND_TOKEN.findall(header or "")[:MAX_SEND_TOKENS])


def create_intent(session: Session, intent: TrackIntent) -> TrackIntent:
    """Store a track-on-send intent, once per (user, key, target)."""
    target = link_target(intent)
    keys = [(getattr(TrackIntent, name), getattr(intent, name)) for name in INTENT_KEYS]
    query = select(TrackIntent).where(
        TrackIntent.user_id == intent.user_id, TrackIntent.fulfilled_at.is_(None),
        *[column.is_(None) if value is None else column == value for column, value in keys],
    )
    if target is not None:
        query = query.where(getattr(TrackIntent, LINK_TARGET_COLUMNS[target.kind]) == target.id)
    existing = session.scalars(query).first()
    if existing is not None:
        return existing
    session.add(intent)
    session.flush()
    return intent


@dataclass(frozen=True)
class MeetingKeys:
    """What Office.js (and Graph) tell about a meeting: its item ids and iCalendar UID."""

    item_id: str | None = None
    rest_item_id: str | None = None
    ical_uid: str | None = None

    def item_ids(self) -> list[str]:
        """The item ids given, in either form."""
        return [i for i in (self.item_id, self.rest_item_id) if i]


def find_meeting(session: Session, keys: MeetingKeys, *,
                 seen_by: Mapping[str, Any] | None) -> Activity | None:
    """Return the stored meeting with that iCalendar UID or a copy with that item id, when
    the viewer may see it (``seen_by`` as for :func:`find_activity`)."""
    wanted = []
    if keys.ical_uid:
        wanted.append(Activity.ical_uid == keys.ical_uid)
    if keys.item_ids():
        wanted.append(Activity.id.in_(select(ActivitySource.activity_id).where(
            ActivitySource.item_id.in_(keys.item_ids()))))
    if not wanted:
        return None
    query = select(Activity).where(Activity.kind == "meeting", or_(*wanted))
    if seen_by is not None:
        query = query.where(visible_activities())
    return session.scalars(query.order_by(Activity.id), dict(seen_by or {})).first()
