"""Track, untrack, track-on-send and link a meeting (``/track``, ``/untrack``,
``/track-on-send``, ``/meetings/link``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.db import session_scope
from crmsync.crm.links import TrackIntent
from crmsync.crm.models import Activity, link_columns
from crmsync.crm.tracking import (
    TRACK_HEADER,
    MeetingKeys,
    Target,
    create_intent,
    find_activity,
    find_meeting,
    new_send_token,
    normalize_message_id,
    track,
    untrack,
)
from crmsync.sync_service.web.api.access import Viewer
from crmsync.sync_service.web.api.blueprint import blueprint, services, viewer
from crmsync.sync_service.web.api.cards import activity_links, tracking_state
from crmsync.sync_service.web.api.context import now
from crmsync.sync_service.web.api.errors import APIError, NotFound
from crmsync.sync_service.web.api.resolve import find_record, record_ref, resolve_target
from crmsync.sync_service.web.api.schemas import (
    IntentIn,
    IntentOut,
    MeetingLinkIn,
    MeetingLinkOut,
    TrackIn,
    TrackingOut,
    TrackOut,
    UntrackIn,
)


def _message_id(raw: str) -> str:
    message_id = normalize_message_id(raw)
    if message_id is None:
        raise APIError("internet_message_id is not a Message-ID")
    return message_id


def _mail_and_target(session: Session, who: Viewer, body: dict[str, Any]
                     ) -> tuple[str, Target, Activity | None]:
    """The request's Message-ID, its record, and the mail when the caller may see it."""
    message_id = _message_id(body["internet_message_id"])
    target = resolve_target(session, who, body["target"])
    return message_id, target, find_activity(session, message_id, seen_by=who.seen_by)


@blueprint.post("/track")
@blueprint.arguments(TrackIn)
@blueprint.response(200, TrackOut)
def track_item(body: dict[str, Any]) -> dict[str, Any]:
    """Link a mail (by internet message id) to a record; calling it again changes nothing.

    A mail crmsync does not hold (or one the caller may not see) is not stored from what
    the pane says of it: the choice waits as an intent of the caller's, applied when
    the mail is synced from one of the caller's own mailboxes (``pending``). The synced
    mail is what everyone sees.
    """
    who = viewer()
    with session_scope(services().sessions) as session:
        message_id, target, activity = _mail_and_target(session, who, body)
        if activity is None:
            create_intent(session, TrackIntent(user_id=who.id, created_at=now(),
                                               internet_message_id=message_id,
                                               **link_columns(target)))
            return {**tracking_state(session, who, message_id), "created": False,
                    "pending": True}
        _, created = track(session, activity, target, who.id, now())
        return {**tracking_state(session, who, message_id), "created": created,
                "pending": False}


@blueprint.post("/untrack")
@blueprint.arguments(UntrackIn)
@blueprint.response(200, TrackingOut)
def untrack_item(body: dict[str, Any]) -> dict[str, Any]:
    """Remove the mail's link to one record; automation will not link it there again."""
    who = viewer()
    with session_scope(services().sessions) as session:
        message_id, target, activity = _mail_and_target(session, who, body)
        if activity is None:
            raise NotFound("crmsync does not hold this mail")
        untrack(session, activity, target, who.id, now())
        return tracking_state(session, who, message_id)


@blueprint.post("/track-on-send")
@blueprint.arguments(IntentIn)
@blueprint.response(201, IntentOut)
def track_on_send(body: dict[str, Any]) -> dict[str, Any]:
    """Link the draft to a record once it is sent (when the sync stores it from Sent Items).

    The draft is named by Outlook's conversation id and/or its internet message id,
    and by the returned ``send_token``: the pane writes it into the draft's
    ``X-CRMSync-Track`` header, which the sent copy keeps on every mail system (IMAP
    has no conversation id). Send the token back to add another record to the same
    draft. Asking twice stores one intent. (``item_id`` names a meeting: prefer
    ``/meetings/link``.)
    """
    who = viewer()
    keys = {k: (body.get(k) or None) for k in ("conversation_id", "internet_message_id", "item_id")}
    if keys["internet_message_id"]:
        keys["internet_message_id"] = _message_id(keys["internet_message_id"])
    with session_scope(services().sessions) as session:
        target = resolve_target(session, who, body["target"])
        if not keys["item_id"]:
            keys["send_token"] = _draft_token(session, who.id, body.get("send_token"))
        intent = create_intent(session, TrackIntent(user_id=who.id, created_at=now(), **keys,
                                                    **link_columns(target)))
        record = find_record(session, who, body["target"]["type"], body["target"]["external_id"])
        return {"id": intent.id, "target": record_ref(target.kind, record),
                "conversation_id": intent.conversation_id,
                "internet_message_id": intent.internet_message_id,
                "send_token": intent.send_token,
                "header": TRACK_HEADER if intent.send_token else None}


def _draft_token(session, user_id: int, given: str | None) -> str:
    """The draft's send token: the one it already carries when it is this rep's, else new.

    A token is never taken from the client unless this rep's pane was handed it
    before, so nobody can attach an intent to a token they guessed or copied.
    """
    if given:
        known = session.scalars(select(TrackIntent.id).where(
            TrackIntent.send_token == given, TrackIntent.user_id == user_id,
            TrackIntent.fulfilled_at.is_(None))).first()
        if known is not None:
            return given
    return new_send_token()


@blueprint.post("/meetings/link")
@blueprint.arguments(MeetingLinkIn)
@blueprint.response(200, MeetingLinkOut)
def link_meeting(body: dict[str, Any]) -> dict[str, Any]:
    """Link a meeting (appointment mode) to an opportunity, account, contact or case.

    When crmsync holds the meeting (found by iCalendar UID or a calendar copy's item
    id) it is linked now, as a person's link; otherwise the choice waits and is
    applied when the meeting is synced from a calendar or imported from a file.
    """
    who = viewer()
    keys = MeetingKeys(*(body.get(k) or None for k in ("item_id", "rest_item_id", "ical_uid")))
    if not (keys.item_ids() or keys.ical_uid):
        raise APIError("name the meeting: item_id, rest_item_id or ical_uid")
    with session_scope(services().sessions) as session:
        target = resolve_target(session, who, body["target"])
        record = find_record(session, who, body["target"]["type"], body["target"]["external_id"])
        meeting = find_meeting(session, keys, seen_by=who.seen_by)
        if meeting is not None:
            track(session, meeting, target, who.id, now())
        else:
            create_intent(session, TrackIntent(
                user_id=who.id, created_at=now(), item_id=keys.item_id,
                rest_item_id=keys.rest_item_id, ical_uid=keys.ical_uid, **link_columns(target)))
        return {"target": record_ref(target.kind, record), "linked": meeting is not None,
                "pending": meeting is None,
                "links": activity_links(session, who, meeting) if meeting else []}
