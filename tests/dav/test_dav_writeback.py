"""Meetings booked in the CRM reach a CalDAV calendar (Radicale) and come back: no
attendee (so no scheduling message) unless --invite, If-Match on the ETag, series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from crmsync.connectors.calendar_writes import EventDraft
from crmsync.connectors.registry import load_connector_class
from tests.conftest import Cli, load_sample_crm
from tests.dav.accounts import DavAccount
from tests.dav.test_dav_mailbox import add_caldav

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MARIA = "maria.lopez@northwind.example"


def book(cli: Cli, *extra: str, subject: str = "Fleet review") -> str:
    return cli("calendar", "add", MARIA, "--subject", subject, "--start",
               "2026-12-14T10:00:00+01:00", "--end", "2026-12-14T11:00:00+01:00",
               "--with", "ana.ruiz@acme.example", "--link", "opportunity:opp-1",
               *extra).output.strip()


def events(account: DavAccount) -> dict[str, icalendar.Event]:
    """The calendar as an app shows it: href → master VEVENT."""
    found = {}
    for href, text in account.members("work").items():
        vevents = icalendar.Calendar.from_ical(text).walk("VEVENT")
        found[href] = next(e for e in vevents if e.get("RECURRENCE-ID") is None)
    return found


def sync(cli: Cli, name: str) -> str:
    return cli("sync", "--mailbox", name, "--once").output


def meetings(cli: Cli) -> list[dict]:
    return [a for a in cli.export_activities() if a["kind"] == "meeting"]


def setup(cli: Cli, account: DavAccount) -> str:
    load_sample_crm(cli)
    return add_caldav(cli, account, "--no-contacts")


@SQLITE_ONLY
def test_a_booked_meeting_lands_without_an_attendee_and_is_written_once(
        cli: Cli, account: DavAccount) -> None:
    # The people are named in the description, not ATTENDEEs: a scheduling server has
    # nobody to invite. Later syncs neither duplicate the meeting nor write it again.
    name = setup(cli, account)
    meeting_id = book(cli)
    sync(cli, name)
    [(href, event)] = events(account).items()
    assert str(event["SUMMARY"]) == "Fleet review"
    assert event["DTSTART"].dt.astimezone(UTC) == datetime(2026, 12, 14, 9, tzinfo=UTC)
    assert event.get("ATTENDEE") is None
    assert "ana.ruiz@acme.example" in str(event["DESCRIPTION"])
    etag = account.get(href).headers["ETag"]
    reads = account.server.requests("GET", href)
    sync(cli, name)  # the calendar's sync sees the event: its own echo, by its ETag
    sync(cli, name)
    assert account.server.requests("GET", href) == reads  # not even read again
    assert account.get(href).headers["ETag"] == etag
    [activity] = meetings(cli)
    assert activity["id"] == meeting_id
    assert activity["sources"] == [{"mailbox": name, "folder": "calendar", "item_id": href}]


@SQLITE_ONLY
def test_invite_makes_attendees_and_cancel_deletes_the_event(
        cli: Cli, account: DavAccount) -> None:
    # --invite: Ana is an ATTENDEE asked to reply; `calendar cancel` removes the event,
    # the meeting's links stay.
    name = setup(cli, account)
    meeting_id = book(cli, "--invite")
    sync(cli, name)
    [event] = events(account).values()
    assert str(event["ATTENDEE"]).lower() == "mailto:ana.ruiz@acme.example"
    assert event["ATTENDEE"].params["RSVP"] == "TRUE"
    cli("calendar", "cancel", meeting_id)
    sync(cli, name)
    assert events(account) == {}
    [activity] = meetings(cli)
    assert activity["links"][0]["external_id"] == "opp-1"


@SQLITE_ONLY
def test_a_newer_change_in_the_calendar_app_is_never_overwritten(
        cli: Cli, account: DavAccount) -> None:
    # The CRM renames and moves it, then the rep moves it in the app before the sync: the
    # PUT If-Match the old ETag is refused, the app's later time stands, the CRM's
    # subject still goes.
    name = setup(cli, account)
    meeting_id = book(cli)
    sync(cli, name)
    [(href, _event)] = events(account).items()
    cli("calendar", "update", meeting_id, "--start", "2026-12-20T09:00:00Z",
        "--subject", "Renamed in the CRM")
    calendar = icalendar.Calendar.from_ical(account.get(href).text)
    event = calendar.walk("VEVENT")[0]
    for prop, value in (("DTSTART", datetime(2026, 12, 17, 9, tzinfo=UTC)),
                        ("DTEND", datetime(2026, 12, 17, 10, tzinfo=UTC)),
                        ("LAST-MODIFIED", datetime.now(UTC) + timedelta(seconds=5))):
        event.pop(prop)
        event.add(prop, value)
    account.request("PUT", href.split("/", 2)[2], calendar.to_ical().decode(),
                    {"Content-Type": "text/calendar"})
    sync(cli, name)
    [event] = events(account).values()
    assert event["DTSTART"].dt.astimezone(UTC) == datetime(2026, 12, 17, 9, tzinfo=UTC)
    assert str(event["SUMMARY"]) == "Renamed in the CRM"
    [activity] = meetings(cli)
    assert activity["occurred_at"] == "2026-12-17T09:00:00Z"


@SQLITE_ONLY
def test_a_weekly_series_links_every_occurrence(cli: Cli, account: DavAccount) -> None:
    # --repeat weekly:3 is one resource with an RRULE; each occurrence is a meeting with
    # the link, each sourced from its occurrence in the calendar.
    name = setup(cli, account)
    book(cli, "--repeat", "weekly:3")
    sync(cli, name)
    [(href, event)] = events(account).items()
    assert event["RRULE"]["FREQ"] == ["WEEKLY"] and event["RRULE"]["COUNT"] == [3]
    found = meetings(cli)
    assert len(found) == 3
    assert all(m["links"][0]["external_id"] == "opp-1" for m in found)
    assert sorted(s["item_id"] for m in found for s in m["sources"]) == [
        href, f"{href}#20261221T090000Z", f"{href}#20261228T090000Z"]


def test_a_create_repeated_after_a_crash_finds_the_first_event(account: DavAccount) -> None:
    # The same booking created twice (a run stopped before it stored the id) is one
    # resource, found by its crmsync id.
    dav = load_connector_class("caldav").from_settings(
        {"url": account.user.principal_url, "username": account.user.username,
         "address": MARIA}, account.user.password)
    draft = EventDraft(subject="Fleet review", start=datetime(2026, 12, 14, 9, tzinfo=UTC),
                       end=datetime(2026, 12, 14, 10, tzinfo=UTC),
                       attendees=("ana.ruiz@acme.example",), invite=False, crm_ref="m-42")
    first = dav.create_event(draft)
    again = dav.create_event(draft)
    assert again.remote_id == first.remote_id and again.change_key == first.change_key
    assert dav.find_event("m-42") == first
    assert dav.find_event("m-43") is None
    assert len(events(account)) == 1
