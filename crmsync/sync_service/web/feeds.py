"""The per-user .ics subscription feed of CRM meetings.

Calendar apps cannot send an ``Authorization`` header when they poll a subscription, so
each user gets a secret feed URL (``/feeds/<token>.ics``, only its SHA-256 stored); scripts
may use ``/feeds/me.ics`` with a bearer API key instead.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
from flask import Blueprint, Flask, Response, abort, current_app, request
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from crmsync.crm.db import session_scope
from crmsync.crm.feeds import FeedToken
from crmsync.crm.meetings import MeetingSeries
from crmsync.crm.models import Activity, ActivityParticipant, ActivitySource, Mailbox, User
from crmsync.crm.visibility import Viewer, sharing, visible_activities
from crmsync.sync_service.web.api_keys import hash_key, require_user, user_for_key

blueprint = Blueprint("feeds", __name__, url_prefix="/feeds")


#: how long a feed URL works (a calendar app polls it; a leaked one must die)
FEED_DAYS = 365


def create_feed_token(session: Session, email: str, days: int = FEED_DAYS) -> str:
    """Create and return a new feed token for the user ``email`` (shown once); the user's
    earlier feed URLs stop working, so handing out a new one is how an old one is revoked."""
    user = require_user(session, email)
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.execute(update(FeedToken).where(FeedToken.user_id == user.id,
                                            FeedToken.revoked_at.is_(None))
                    .values(revoked_at=now))
    session.add(FeedToken(user_id=user.id, token_hash=hash_key(token), created_at=now,
                          expires_at=now + timedelta(days=days)))
    return token


def list_feed_tokens(session: Session, email: str | None = None) -> list[dict[str, Any]]:
    """Every feed URL (never its secret): id, user, created, expires, revoked."""
    query = select(FeedToken, User.email).join(User, User.id == FeedToken.user_id)
    if email:
        query = query.where(User.id == require_user(session, email).id)
    return [{"id": token.id, "user": address, "created_at": token.created_at,
             "expires_at": token.expires_at, "revoked_at": token.revoked_at}
            for token, address in session.execute(query.order_by(FeedToken.id))]


def revoke_feed_tokens(session: Session, email: str) -> int:
    """Revoke every feed URL of ``email``; return how many were live."""
    user = require_user(session, email)
    result = session.execute(update(FeedToken).where(FeedToken.user_id == user.id,
                                                     FeedToken.revoked_at.is_(None))
                             .values(revoked_at=datetime.now(UTC)))
    return result.rowcount or 0


def feed_for(session: Session, user: User) -> bytes:
    """Return the VCALENDAR of the meetings ``user`` takes part in or holds in a mailbox,
    of those they may see (:mod:`crmsync.crm.visibility`: a private meeting in another
    person's calendar stays out even when ``user`` is invited)."""
    mailbox_ids = select(Mailbox.id).where(Mailbox.owner_id == user.id)
    activities = session.scalars(
        select(Activity).where(Activity.kind == "meeting", or_(
            Activity.id.in_(select(ActivityParticipant.activity_id).where(
                ActivityParticipant.address == user.email)),
            Activity.id.in_(select(ActivitySource.activity_id).where(
                ActivitySource.mailbox_id.in_(mailbox_ids))),
        ), visible_activities()).order_by(Activity.occurred_at),
        Viewer.of(user, sharing(session)).seen_by,
    ).all()
    series = {s.activity_id: s for s in session.scalars(select(MeetingSeries).where(
        MeetingSeries.activity_id.in_([a.id for a in activities])))}
    feed = icalendar.Calendar()
    feed.add("PRODID", "-//crmsync//meetings feed//EN")
    feed.add("VERSION", "2.0")
    for activity in activities:
        stored = series.get(activity.id)
        if stored is not None and stored.ical:
            for component in icalendar.Calendar.from_ical(stored.ical).subcomponents:
                feed.add_component(component)
            continue
        event = icalendar.Event()
        event.add("UID", activity.ical_uid or f"crmsync-activity-{activity.id}")
        event.add("SUMMARY", activity.subject)
        event.add("DTSTART", activity.occurred_at)
        event.add("DTSTAMP", datetime.now(UTC))
        feed.add_component(event)
    return feed.to_ical()


def _respond(user_id: int | None) -> Response:
    if user_id is None:
        abort(404)
    with session_scope(current_app.extensions["crmsync"].sessions) as session:
        user = session.get(User, user_id)
        body = feed_for(session, user)
    return Response(body, mimetype="text/calendar")


@blueprint.get("/<token>.ics")
def feed_by_token(token: str) -> Response:
    """The feed for the user holding ``token``; 404 for any unknown token."""
    if token == "me":
        return feed_for_bearer()
    with session_scope(current_app.extensions["crmsync"].sessions) as session:
        user_id = session.scalar(
            select(FeedToken.user_id).where(
                FeedToken.token_hash == hash_key(token), FeedToken.revoked_at.is_(None),
                or_(FeedToken.expires_at.is_(None), FeedToken.expires_at > datetime.now(UTC))))
    return _respond(user_id)


def feed_for_bearer() -> Response:
    """The feed for the user of the bearer API key."""
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else ""
    with session_scope(current_app.extensions["crmsync"].sessions) as session:
        user = user_for_key(session, key) if key else None
        user_id = user.id if user is not None else None
    if user_id is None:
        abort(401)
    return _respond(user_id)


def register(app: Flask) -> None:
    """Add the feed routes to ``app``."""
    app.register_blueprint(blueprint)
