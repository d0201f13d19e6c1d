"""`crmsync calendar add|update|cancel`: meetings booked in the CRM (INTERFACES)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from crmsync.crm.db import session_scope
from crmsync.errors import UserError
from crmsync.sync_service.cli import services
from crmsync.sync_service.cli.calendar import calendar
from crmsync.sync_service.engine.bookings import (
    Booking,
    BookingChange,
    book,
    cancel,
    cancel_occurrence,
    change,
    change_occurrence,
    day_span,
    find_target,
    meeting_by_id,
    midnight,
    parse_day,
    parse_moment,
    parse_repeat,
)

WITH_HELP = "An attendee's address (repeat for several)."
LINK_HELP = ("A record to link, TYPE:EXTERNAL_ID with TYPE contact, account, opportunity or "
             "case (a case by its number); repeat for several.")
OCCURRENCE_HELP = ("Only the occurrence of the series starting at this time (its slot in "
                   "the series, or where it starts now; ISO 8601 with Z or an offset): it "
                   "becomes an exception of the series, the rest stays.")
INVITE_HELP = ("Send the --with people the calendar's meeting request (then its updates and "
               "cancellation). Without it nobody is invited.")


def _targets(session, links: tuple[str, ...]):
    found = []
    for text in links:
        kind, _, external_id = text.partition(":")
        if not external_id:
            raise UserError(f"--link takes TYPE:EXTERNAL_ID, not {text!r}")
        found.append(find_target(session, kind.strip().lower(), external_id.strip()))
    return tuple(found)


@calendar.command("add")
@click.argument("owner_email")
@click.option("--subject", required=True, help="The meeting's subject.")
@click.option("--start", required=True,
              help="ISO 8601 with Z or an offset; with --all-day the first day, YYYY-MM-DD.")
@click.option("--end", help="ISO 8601 with Z or an offset (required unless --all-day); "
              "with --all-day the day after the last one (as iCalendar and Outlook count "
              "it), one day when left out.")
@click.option("--all-day", "all_day", is_flag=True,
              help="An all-day meeting (its days at midnight in --timezone where the "
              "calendar wants a zone).")
@click.option("--with", "attendees", multiple=True, help=WITH_HELP)
@click.option("--link", "links", multiple=True, help=LINK_HELP)
@click.option("--repeat", help="weekly:N: a weekly series of N occurrences.")
@click.option("--timezone", "tzid", default="UTC", show_default=True,
              help="The IANA zone a series repeats in (its local time holds across DST), "
              "and an all-day meeting's days are in.")
@click.option("--invite", is_flag=True, help=INVITE_HELP)
def calendar_add(owner_email: str, subject: str, start: str, end: str | None, all_day: bool,
                 attendees: tuple[str, ...], links: tuple[str, ...], repeat: str | None,
                 tzid: str, invite: bool) -> None:
    """Book a meeting in the CRM for the CRM user OWNER_EMAIL and print its id; the next
    sync writes it to the owner's calendar without inviting anyone unless --invite."""
    if all_day:
        first, after = day_span(parse_day(start), parse_day(end) if end else None)
    elif end is None:
        raise UserError("--end is required (or --all-day)")
    else:
        first, after = parse_moment(start), parse_moment(end)
    with session_scope(services().sessions) as session:
        meeting = book(session, Booking(
            owner_email=owner_email, subject=subject, start=first, end=after,
            attendees=attendees, links=_targets(session, links),
            weekly_count=parse_repeat(repeat), invite=invite, tzid=tzid, all_day=all_day),
            datetime.now(UTC))
        click.echo(str(meeting.activity_id))


@calendar.command("update")
@click.argument("meeting_id", type=int)
@click.option("--subject", help="A new subject.")
@click.option("--start", help="A new start (ISO 8601 with Z or an offset; an all-day "
              "meeting's first day, YYYY-MM-DD); the length stays unless --end is given.")
@click.option("--end", help="A new end (an all-day meeting's: the day after its last).")
@click.option("--all-day/--timed", "all_day", default=None,
              help="Make it an all-day meeting (its first day unless --start), or a timed "
              "one (with --start and --end).")
@click.option("--with", "attendees", multiple=True,
              help="Replaces the attendees (repeat for several).")
@click.option("--link", "links", multiple=True, help=LINK_HELP + " Added to the links.")
@click.option("--invite", is_flag=True, help=INVITE_HELP)
@click.option("--occurrence", help=OCCURRENCE_HELP)
def calendar_update(meeting_id: int, subject: str | None, start: str | None, end: str | None,
                    all_day: bool | None, attendees: tuple[str, ...], links: tuple[str, ...],
                    invite: bool, occurrence: str | None) -> None:
    """Change a booked meeting (a series as a whole, or one occurrence with --occurrence);
    the next sync updates the calendar."""
    with session_scope(services().sessions) as session:
        meeting = meeting_by_id(session, meeting_id)
        if meeting is None:
            raise UserError(f"no meeting {meeting_id} booked in the CRM")
        if occurrence is not None:
            if all_day is not None or meeting.all_day:
                raise UserError("an all-day meeting is not a series")
            if attendees or links or invite:
                raise UserError("--with, --link and --invite change the whole meeting, "
                                "not one occurrence")
            change_occurrence(meeting, parse_moment(occurrence), BookingChange(
                subject=subject, start=parse_moment(start) if start else None,
                end=parse_moment(end) if end else None), datetime.now(UTC))
            click.echo(str(meeting.activity_id))
            return
        days = meeting.all_day if all_day is None else all_day
        read = (lambda text: midnight(parse_day(text))) if days else parse_moment
        change(session, meeting, BookingChange(
            subject=subject, start=read(start) if start else None,
            end=read(end) if end else None, attendees=attendees or None,
            links=_targets(session, links), invite=invite, all_day=all_day),
            datetime.now(UTC))
        click.echo(str(meeting.activity_id))


@calendar.command("cancel")
@click.argument("meeting_id", type=int)
@click.option("--occurrence", help=OCCURRENCE_HELP)
def calendar_cancel(meeting_id: int, occurrence: str | None) -> None:
    """Cancel a booked meeting (a series: all of it, or one occurrence with --occurrence);
    the next sync removes it from the calendar. Its activities and links stay."""
    with session_scope(services().sessions) as session:
        meeting = meeting_by_id(session, meeting_id)
        if meeting is None:
            raise UserError(f"no meeting {meeting_id} booked in the CRM")
        if occurrence is not None:
            cancel_occurrence(meeting, parse_moment(occurrence), datetime.now(UTC))
        else:
            cancel(meeting, datetime.now(UTC))
        click.echo(str(meeting.activity_id))
