"""Meetings booked in the CRM (``/meetings``): book, read, change and cancel.

The API face of ``crmsync calendar add|update|cancel`` (the rules are
:mod:`crmsync.sync_service.engine.bookings`'): a caller books for themselves; a
meeting is read by whoever sees its activity (the one visibility rule), and changed or
cancelled only by its owner or an admin (403 for others who see it, 404 for those who
do not). Linked records are resolved as the caller may see them. ``?occurrence=START``
on PATCH and DELETE changes or cancels one occurrence of a series (an exception of it
in the calendar), like ``--occurrence``.
"""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.bookings import BookedMeeting
from crmsync.crm.db import session_scope
from crmsync.crm.models import Activity, ActivityLink, link_columns
from crmsync.crm.visibility import visible_activities
from crmsync.errors import UserError
from crmsync.sync_service.engine.bookings import (
    MAX_ATTENDEES,
    MAX_LINKS,
    MAX_OCCURRENCES,
    MAX_SUBJECT,
    Booking,
    BookingChange,
    book,
    cancel,
    cancel_occurrence,
    change,
    change_occurrence,
    day_span,
    midnight,
    parse_moment,
)
from crmsync.sync_service.web.api.access import Viewer
from crmsync.sync_service.web.api.blueprint import blueprint, services, viewer
from crmsync.sync_service.web.api.cards import activity_links
from crmsync.sync_service.web.api.context import now
from crmsync.sync_service.web.api.errors import APIError, NotFound
from crmsync.sync_service.web.api.resolve import resolve_target
from crmsync.sync_service.web.api.schemas import Strict, TargetIn

#: at most this many meetings in a record's list (the pane shows the next ones)
MAX_LISTED = 20

Short = fields.String
_addresses = fields.List(Short(validate=validate.Length(max=320)),
                         validate=validate.Length(max=MAX_ATTENDEES))
_links = fields.List(fields.Nested(TargetIn), validate=validate.Length(max=MAX_LINKS))


class Forbidden(APIError):
    """Seen, but not the caller's to change."""

    status_code = 403


class MeetingIn(Strict):
    subject = Short(required=True, validate=validate.Length(min=1, max=MAX_SUBJECT))
    start = fields.AwareDateTime(required=True, metadata={"description": "ISO 8601 with zone"})
    end = fields.AwareDateTime(required=True)
    attendees = _addresses
    links = _links
    repeat_weekly = fields.Integer(load_default=None, allow_none=True,
                                   validate=validate.Range(2, MAX_OCCURRENCES),
                                   metadata={"description": "a weekly series of N"})
    timezone = Short(load_default="UTC", validate=validate.Length(max=64))
    invite = fields.Boolean(load_default=False, metadata={
        "description": "send the attendees the calendar's meeting requests"})
    all_day = fields.Boolean(load_default=False, metadata={
        "description": "an all-day meeting: the days from start's date to end's date "
                       "(end exclusive, as iCalendar), each read in its own offset"})


class MeetingChangeIn(Strict):
    subject = Short(validate=validate.Length(min=1, max=MAX_SUBJECT))
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    attendees = _addresses
    links = _links
    invite = fields.Boolean(load_default=False)
    all_day = fields.Boolean(load_default=None, allow_none=True, metadata={
        "description": "true: make it all-day (start's and end's dates, end exclusive); "
                       "false: make it timed (with start and end)"})


class MeetingOut(Strict):
    id = Short()
    subject = Short()
    start = fields.DateTime()
    end = fields.DateTime()
    attendees = fields.List(Short())
    status = Short()
    invite = fields.Boolean()
    all_day = fields.Boolean()
    occurrences = fields.Integer()
    in_calendar = fields.Boolean(metadata={"description": "the calendar holds it"})
    calendar_error = Short(allow_none=True)
    links = fields.List(fields.Dict())
    series = fields.List(fields.Dict(), metadata={
        "description": "a series' occurrences: slot, start, end, subject, status"})


def _series(meeting: BookedMeeting) -> list[dict[str, Any]]:
    return [{"slot": o.original_start.isoformat(), "start": o.starts_at.isoformat(),
             "end": o.ends_at.isoformat(), "subject": o.activity.subject,
             "status": o.status} for o in meeting.occurrences]


def _occurrence() -> Any:
    """The ``occurrence`` query argument as a time, ``None`` when absent (400 when bad)."""
    text = request.args.get("occurrence")
    if text is None:
        return None
    if len(text) > 64:
        raise APIError("occurrence: at most 64 characters")
    try:
        return parse_moment(text)
    except UserError as exc:
        raise _user_error(exc) from exc


def _shape(session: Session, who: Viewer, meeting: BookedMeeting) -> dict[str, Any]:
    return {"id": str(meeting.activity_id), "subject": meeting.subject,
            "start": meeting.starts_at, "end": meeting.ends_at,
            "attendees": list(meeting.attendees), "status": meeting.status,
            "invite": meeting.invite, "all_day": meeting.all_day,
            "occurrences": meeting.weekly_count or 1,
            "in_calendar": meeting.remote_id is not None and meeting.status != "cancelled",
            "calendar_error": meeting.last_error,
            "links": activity_links(session, who, meeting.activity),
            "series": _series(meeting)}


def _seen(session: Session, who: Viewer, meeting_id: int) -> BookedMeeting:
    """The booking, when the caller sees its activity; else 404."""
    if not 0 < meeting_id < 2**31:  # no such id (and no overflow in the database driver)
        raise NotFound(f"no meeting {meeting_id}")
    meeting = session.scalars(
        select(BookedMeeting).join(Activity, Activity.id == BookedMeeting.activity_id)
        .where(BookedMeeting.activity_id == meeting_id, visible_activities()),
        params=who.seen_by).one_or_none()
    if meeting is None:
        raise NotFound(f"no meeting {meeting_id}")
    return meeting


def _own(session: Session, who: Viewer, meeting_id: int) -> BookedMeeting:
    meeting = _seen(session, who, meeting_id)
    if meeting.owner_id != who.id and who.role != "admin":
        raise Forbidden("only the meeting's owner (or an admin) changes it")
    return meeting


def _user_error(exc: UserError) -> APIError:
    return APIError(str(exc))


@blueprint.post("/meetings")
@blueprint.arguments(MeetingIn)
@blueprint.response(201, MeetingOut)
def book_meeting(body: dict[str, Any]) -> dict[str, Any]:
    """Book a meeting for the caller; the next sync of their mailbox writes it to their
    calendar, inviting nobody unless ``invite``."""
    who = viewer()
    with session_scope(services().sessions) as session:
        targets = tuple(resolve_target(session, who, t) for t in body.get("links") or [])
        start, end = body["start"], body["end"]
        if body["all_day"]:
            start, end = day_span(start.date(), end.date() if end.date() > start.date()
                                  else None)
        try:
            meeting = book(session, Booking(
                owner_email=who.email, subject=body["subject"], start=start,
                end=end, attendees=tuple(body.get("attendees") or ()), links=targets,
                weekly_count=body.get("repeat_weekly"), invite=body["invite"],
                tzid=body["timezone"], all_day=body["all_day"]), now())
        except UserError as exc:
            raise _user_error(exc) from exc
        return _shape(session, who, meeting)


class RecordMeetingsIn(TargetIn):
    """The record whose upcoming booked meetings are listed (``?type=&external_id=``)."""


class MeetingListOut(Strict):
    meetings = fields.List(fields.Nested(MeetingOut))


def _upcoming(meeting: BookedMeeting, moment: Any) -> bool:
    if meeting.occurrences:
        return any(o.status != "cancelled" and o.ends_at >= moment for o in meeting.occurrences)
    return meeting.ends_at >= moment


@blueprint.get("/meetings")
@blueprint.arguments(RecordMeetingsIn, location="query")
@blueprint.response(200, MeetingListOut)
def record_meetings(query: dict[str, Any]) -> dict[str, Any]:
    """The upcoming meetings booked in the CRM with this record (what the pane's card
    lists), as the caller sees them: the record and each meeting under the one
    visibility rule; cancelled ones left out; the next :data:`MAX_LISTED` first."""
    who = viewer()
    with session_scope(services().sessions) as session:
        target = resolve_target(session, who, query)
        column = getattr(ActivityLink, next(iter(link_columns(target))))
        moment = now()
        found = session.scalars(
            select(BookedMeeting).join(Activity, Activity.id == BookedMeeting.activity_id)
            .where(BookedMeeting.status != "cancelled", visible_activities(),
                   Activity.links.any(column == target.id))
            .order_by(BookedMeeting.starts_at), params=who.seen_by).all()
        upcoming = [m for m in found if _upcoming(m, moment)][:MAX_LISTED]
        return {"meetings": [_shape(session, who, m) for m in upcoming]}


@blueprint.get("/meetings/<int:meeting_id>")
@blueprint.response(200, MeetingOut)
def get_meeting(meeting_id: int) -> dict[str, Any]:
    """A booked meeting, when the caller sees it (404 otherwise)."""
    who = viewer()
    with session_scope(services().sessions) as session:
        return _shape(session, who, _seen(session, who, meeting_id))


@blueprint.patch("/meetings/<int:meeting_id>")
@blueprint.arguments(MeetingChangeIn)
@blueprint.response(200, MeetingOut)
def change_meeting(body: dict[str, Any], meeting_id: int) -> dict[str, Any]:
    """Change what is given (a series as a whole, or with ``?occurrence=START`` that
    occurrence's subject, start and end); ``attendees`` replaces, ``links`` adds."""
    who = viewer()
    occurrence = _occurrence()
    with session_scope(services().sessions) as session:
        meeting = _own(session, who, meeting_id)
        if occurrence is not None:
            if body.get("attendees") is not None or body.get("links") or body["invite"]:
                raise APIError("attendees, links and invite change the whole meeting, "
                               "not one occurrence")
            try:
                change_occurrence(meeting, occurrence, BookingChange(
                    subject=body.get("subject"), start=body.get("start"),
                    end=body.get("end")), now())
            except UserError as exc:
                raise _user_error(exc) from exc
            return _shape(session, who, meeting)
        targets = tuple(resolve_target(session, who, t) for t in body.get("links") or [])
        attendees = body.get("attendees")
        start, end = body.get("start"), body.get("end")
        if (meeting.all_day if body["all_day"] is None else body["all_day"]):
            # an all-day meeting's times are the dates they name, in their own offset
            start, end = (midnight(t.date()) if t else None for t in (start, end))
        try:
            change(session, meeting, BookingChange(
                subject=body.get("subject"), start=start, end=end,
                attendees=tuple(attendees) if attendees is not None else None,
                links=targets, invite=body["invite"], all_day=body["all_day"]), now())
        except UserError as exc:
            raise _user_error(exc) from exc
        return _shape(session, who, meeting)


@blueprint.delete("/meetings/<int:meeting_id>")
@blueprint.response(200, MeetingOut)
def cancel_meeting(meeting_id: int) -> dict[str, Any]:
    """Cancel the meeting (a series: all of it, or with ``?occurrence=START`` that
    occurrence); the next sync removes it from the calendar; its activities and links
    stay."""
    who = viewer()
    occurrence = _occurrence()
    with session_scope(services().sessions) as session:
        meeting = _own(session, who, meeting_id)
        try:
            if occurrence is not None:
                cancel_occurrence(meeting, occurrence, now())
            else:
                cancel(meeting, now())
        except UserError as exc:
            raise _user_error(exc) from exc
        return _shape(session, who, meeting)
