"""Exchange Server meetings end to end: `crmsync mailbox add ews` + `crmsync sync` against
the EWS double, calendar items served as Exchange's iCalendar MimeContent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Cli, load_sample_crm
from tests.ews.calendars import calendar, moved_series, people, single
from tests.ews.helpers import ANA, MARIA, add_ews_mailbox, sync
from tests.fakes.ews_server import EwsDouble

#: What these tests hold does not depend on the database (the engine's behaviour on
#: PostgreSQL is covered by test_ews_mail.py and the IMAP and Graph suites): SQLite only,
#: to keep the suite's time.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BERLIN = ZoneInfo("Europe/Berlin")


def meetings(cli: Cli) -> list[dict]:
    return [a for a in cli.export_activities() if a["kind"] == "meeting"]


def utc_iso(wall: datetime) -> str:
    """A Berlin wall-clock time as the export writes the instant."""
    return wall.replace(tzinfo=BERLIN).astimezone(UTC).isoformat().replace("+00:00", "Z")


def soon(days: int = 2) -> datetime:
    return datetime.now(UTC).replace(hour=14, minute=0, second=0, microsecond=0) + \
        timedelta(days=days)


def test_meeting_with_a_customer_becomes_a_meeting_activity_and_leaves_when_deleted(
        cli: Cli, ews: EwsDouble) -> None:
    # A customer meeting becomes a meeting with its people; a private one is never stored;
    # deleting the meeting takes it out of this calendar, as Graph's deletions do.
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-contacts")
    box = ews.mailbox(address)
    who = people(MARIA, (ANA,))
    qbr = box.add_calendar_item(calendar(single("qbr-1", "Acme QBR", soon(), who=who)))
    box.add_calendar_item(calendar(single("priv-1", "Dentist", soon(), who=who,
                                          klass="PRIVATE")))
    sync(cli, ews, name)
    [meeting] = meetings(cli)
    assert meeting["subject"] == "Acme QBR" and meeting["ical_uid"] == "qbr-1"
    roles = {(p["address"], p["role"]) for p in meeting["participants"]}
    assert roles == {(MARIA[1], "organizer"), (ANA[1], "attendee")}
    assert any(link["external_id"] == "acc-acme" for link in meeting["links"])
    assert [s["item_id"] for s in meeting["sources"]] == [qbr]

    box.delete_item(qbr)
    sync(cli, ews, name)
    [meeting] = meetings(cli)
    assert meeting["sources"] == []


def test_weekly_series_in_berlin_time_with_a_moved_and_a_cancelled_occurrence(
        cli: Cli, ews: EwsDouble) -> None:
    # Weekly at 10:00 Berlin time (the zone defined in the item): four slots, the second
    # moved to the next day 14:00, the third cancelled; shortening the series to two
    # removes the fourth from the calendar.
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-contacts")
    box = ews.mailbox(address)
    who = people(MARIA, (ANA,))
    scenario = moved_series(who)
    slots, moved, series = scenario.slots, scenario.moved, scenario.ical

    master = box.add_calendar_item(series(4))
    sync(cli, ews, name)
    found = sorted(meetings(cli), key=lambda m: m["occurred_at"])
    assert [m["occurred_at"] for m in found] == [utc_iso(slots[0]), utc_iso(moved),
                                                 utc_iso(slots[3])]
    assert found[1]["ical_uid"] == "weekly-1;RECURRENCE-ID=" + \
        slots[1].replace(tzinfo=BERLIN).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert {m["conversation"] for m in found} == {f"series:{master}"}

    box.update_calendar_item(master, series(2))
    sync(cli, ews, name)
    by_time = {m["occurred_at"]: m for m in meetings(cli)}
    assert len(by_time) == 3
    assert by_time[utc_iso(slots[3])]["sources"] == []
    assert by_time[utc_iso(slots[0])]["sources"] and by_time[utc_iso(moved)]["sources"]


def test_a_meeting_in_two_calendars_is_one_activity(cli: Cli, ews: EwsDouble) -> None:
    # The organizer's and an attendee's copy share the UID: one meeting, two sources.
    load_sample_crm(cli)
    first, one = add_ews_mailbox(cli, ews, "--no-contacts")
    second, two = add_ews_mailbox(cli, ews, "--no-contacts",
                                  owner="wei.zhang@northwind.example")
    ics = calendar(single("shared-1", "Acme kickoff", soon(3), who=people(MARIA, (ANA,))))
    ews.mailbox(one).add_calendar_item(ics)
    ews.mailbox(two).add_calendar_item(ics)
    sync(cli, ews, first)
    sync(cli, ews, second)
    [meeting] = meetings(cli)
    assert len(meeting["sources"]) == 2


def test_an_unchanged_calendar_costs_one_sync_folder_items(cli: Cli, ews: EwsDouble) -> None:
    # Polling a calendar nothing changed in asks Exchange once and fetches nothing.
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-contacts")
    ews.mailbox(address).add_calendar_item(
        calendar(single("poll-1", "Acme call", soon(), who=people(MARIA, (ANA,)))))
    sync(cli, ews, name)
    before = len(ews.operations(address))
    sync(cli, ews, name)
    since = ews.operations(address)[before:]
    assert "GetItem" not in since
    assert since.count("SyncFolderItems") == 3  # inbox, sent items, calendar
