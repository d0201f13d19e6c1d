"""Meetings from .ics files and from iTIP parts of mail: series, exceptions, answers.

A meeting goes through the page writer as a :class:`CalendarEvent` (so it is captured,
deduplicated and linked exactly like a connector's event); this module then keeps its series
record (rule, exceptions, the iCalendar text for expansion) beside the activity.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, insert, select

from crmsync.connectors.base import Page
from crmsync.crm.db import session_scope
from crmsync.crm.directory import load_directory
from crmsync.crm.meetings import MeetingOccurrence, MeetingResponse, MeetingSeries
from crmsync.crm.models import Activity, ActivitySource
from crmsync.crm.rules import load_capture_rules
from crmsync.mapping.calendar import CalendarError, Meeting, meeting_event, parse_calendar
from crmsync.mapping.privacy import privacy_verdict
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.page import Origin, WriteOptions, stored_key
from crmsync.sync_service.engine.store import PageWriter
from crmsync.sync_service.engine.store_events import meeting_key


def store_meeting(writer: PageWriter, meeting: Meeting, calendar: str) -> None:
    """Store one parsed meeting (REQUEST, PUBLISH or a plain file; CANCEL; REPLY)."""
    if meeting.method == "REPLY":
        _store_reply(writer, meeting)
        return
    addresses = [p.address for p in ([meeting.organizer] if meeting.organizer else [])
                 + list(meeting.attendees)]
    if privacy_verdict(addresses, {"class": meeting.sensitivity}, writer.options.policy):
        writer.counters["skipped: meeting refused by privacy rules"] += 1
        return
    event = meeting_event(meeting, calendar)
    activity = _activity(writer, event)
    if meeting.method == "CANCEL" and activity is not None:
        _cancel(writer, activity, meeting)
        return
    if activity is not None and _unchanged(writer, activity, meeting, calendar):
        writer.counters["meetings_unchanged"] += 1  # re-import: nothing rewritten
        return
    writer.apply(Page(calendar, [event], cursor=""))
    activity = _activity(writer, event)
    if activity is not None:
        _upsert_series(writer, activity, meeting)


def _activity(writer: PageWriter, event) -> Activity | None:
    writer.session.flush()
    key = stored_key(meeting_key(event, writer.origin.key))
    return writer.session.scalars(select(Activity).where(Activity.dedupe_key == key)).first()


def _unchanged(writer: PageWriter, activity: Activity, meeting: Meeting, calendar: str) -> bool:
    """Return whether this origin already stored exactly this version of ``meeting``."""
    series = _series(writer, activity)
    if series is None or series.ical != meeting.ical or series.sequence != meeting.sequence:
        return False
    return writer.session.scalars(select(ActivitySource.id).where(
        ActivitySource.activity_id == activity.id, ActivitySource.origin == writer.origin.key,
        ActivitySource.folder == calendar)).first() is not None


def _series(writer: PageWriter, activity: Activity) -> MeetingSeries | None:
    return writer.session.scalars(
        select(MeetingSeries).where(MeetingSeries.activity_id == activity.id)
    ).first()


def _upsert_series(writer: PageWriter, activity: Activity, meeting: Meeting) -> None:
    series = _series(writer, activity)
    if series is not None and meeting.sequence < series.sequence:
        writer.counters["meetings_stale"] += 1  # an older update arriving late
        return
    if series is None:
        series = MeetingSeries(activity_id=activity.id, ical_uid=meeting.uid[:1000])
        writer.session.add(series)
    series.rrule, series.tzid = meeting.rrule, meeting.tzid
    series.starts_at, series.ends_at = meeting.starts_at, meeting.ends_at
    series.status, series.sequence, series.ical = meeting.status, meeting.sequence, meeting.ical
    writer.session.flush()
    writer.session.execute(delete(MeetingOccurrence).where(
        MeetingOccurrence.series_id == series.id))
    if meeting.overrides:
        writer.session.execute(insert(MeetingOccurrence), [
            {"series_id": series.id, "recurrence_id": o.recurrence_id,
             "starts_at": o.starts_at, "ends_at": o.ends_at, "status": o.status}
            for o in {o.recurrence_id: o for o in meeting.overrides}.values()
        ])


def _cancel(writer: PageWriter, activity: Activity, meeting: Meeting) -> None:
    """iTIP CANCEL: of one occurrence (RECURRENCE-ID given), or of the whole meeting."""
    series = _series(writer, activity)
    if series is None:
        return
    if meeting.overrides and not meeting.rrule:
        for occurrence in meeting.overrides:
            row = writer.session.scalars(select(MeetingOccurrence).where(
                MeetingOccurrence.series_id == series.id,
                MeetingOccurrence.recurrence_id == occurrence.recurrence_id)).first()
            if row is None:
                writer.session.add(MeetingOccurrence(
                    series_id=series.id, recurrence_id=occurrence.recurrence_id,
                    status="cancelled"))
            else:
                row.status = "cancelled"
    else:
        series.status = "cancelled"
    writer.counters["meetings_cancelled"] += 1


def _store_reply(writer: PageWriter, meeting: Meeting) -> None:
    """iTIP REPLY: an attendee accepted, declined or answered tentatively."""
    activity = writer.session.scalars(
        select(Activity).where(Activity.ical_uid == meeting.uid, Activity.kind == "meeting")
    ).first()
    if activity is None:
        writer.counters["meeting_replies_unknown"] += 1
        return
    for attendee in meeting.attendees:
        row = writer.session.scalars(select(MeetingResponse).where(
            MeetingResponse.activity_id == activity.id,
            MeetingResponse.address == attendee.address)).first()
        if row is None:
            row = MeetingResponse(activity_id=activity.id, address=attendee.address[:320])
            writer.session.add(row)
        row.partstat, row.updated_at = attendee.response[:40], writer.options.now
    writer.counters["meeting_replies"] += 1


def import_calendar(services: Services, path: Path, now: datetime) -> Counter[str]:
    """Import one .ics file; unreadable meetings (or the whole file) are quarantined."""
    data = path.read_bytes()
    with session_scope(services.sessions) as session:
        directory = load_directory(session, services.internal_domains(session))
        policy = load_capture_rules(session)
        writer = PageWriter(session, Origin(key=f"file:{path.name}"), directory,
                            WriteOptions(now=now, policy=policy))
        try:
            meetings, problems = parse_calendar(data)
        except CalendarError as exc:
            writer.quarantine(path.name, "", data, str(exc))
            return writer.counters
        for uid, reason in problems:
            writer.quarantine(path.name, uid[:500], data, reason)
        for meeting in meetings:
            store_meeting(writer, meeting, path.name)
        return writer.counters


def itip_hook(session, mailbox, writer: PageWriter) -> None:
    """Page hook: meetings in the text/calendar parts of the page's captured mail."""
    for stored in list(writer.stored):
        for part in getattr(stored.mail, "calendar_parts", ()):
            try:
                meetings, problems = parse_calendar(part)
            except CalendarError as exc:
                writer.counters[f"invitations unreadable: {exc}"[:200]] += 1
                continue
            for uid, reason in problems:
                writer.quarantine(stored.mail.folder, f"{stored.mail.item_id}#{uid}"[:500],
                                  part, reason)
            for meeting in meetings:
                store_meeting(writer, meeting, f"invitation:{stored.mail.folder}")
