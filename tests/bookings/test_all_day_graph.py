"""All-day meetings booked in the CRM: written as Outlook's all-day events, and back.

Against the Graph double, which refuses an ``isAllDay`` event whose start or end is not
midnight in one time zone (as Graph does) and records every invitation Exchange sends.
"""

from __future__ import annotations

import pytest

from crmsync.sync_service.web.app import create_app
from tests.bookings.test_graph_writeback import book, calendar_events, meeting, sent_to, setup
from tests.conftest import Cli
from tests.fakes.graph_events import edit_in_outlook
from tests.fakes.graph_server import GraphDouble
from tests.graph.test_graph_sync import sync

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MARIA = "maria.lopez@northwind.example"


def api_meeting(cli: Cli, meeting_id: str) -> dict:
    """The booking as ``GET /api/v1/meetings/ID`` shows it to its owner."""
    key = cli("apikey", "create", MARIA).output.split()[-1]
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"]})
    try:
        answer = app.test_client().get(f"/api/v1/meetings/{meeting_id}",
                                       headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        return answer.json
    finally:
        app.extensions["crmsync"].dispose()


def book_fair(cli: Cli, *extra: str) -> str:
    return cli("calendar", "add", MARIA, "--subject", "Trade fair", "--all-day", "--start",
               "2026-12-14", "--timezone", "Europe/Berlin", "--with", "ana.ruiz@acme.example",
               *extra).output.strip()


def test_an_all_day_booking_is_an_all_day_event_and_invites_nobody(
        cli: Cli, graph: GraphDouble) -> None:
    # Two days, end exclusive as Outlook counts it: midnight to midnight in Berlin.
    name, address = setup(cli, graph)
    meeting_id = book_fair(cli, "--end", "2026-12-16")
    assert "ok" in sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["isAllDay"] is True
    # stored by the double in UTC: midnight in Berlin is 23:00 UTC the day before
    assert event["start"]["dateTime"] == "2026-12-13T23:00:00.0000000"
    assert event["end"]["dateTime"] == "2026-12-15T23:00:00.0000000"
    assert event["attendees"] == [] and sent_to(graph, address) == []
    activity = meeting(cli, meeting_id)
    assert activity["occurred_at"] == "2026-12-14T00:00:00Z"  # the day, as inbound ones
    shown = api_meeting(cli, meeting_id)
    assert shown["all_day"] is True and shown["end"].startswith("2026-12-16T00:00:00")
    # Read back every sync: the same days, nothing to write.
    before = len(graph.requests)
    sync(cli, graph, name)
    assert [r for r in graph.requests[before:] if "/events" in r.url and r.method != "GET"] \
        == []
    assert len([a for a in cli.export_activities() if a["kind"] == "meeting"]) == 1


def test_one_day_by_default_and_a_crm_move_keeps_it_all_day(
        cli: Cli, graph: GraphDouble) -> None:
    name, address = setup(cli, graph)
    meeting_id = book_fair(cli)
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["end"]["dateTime"] == "2026-12-14T23:00:00.0000000"
    cli("calendar", "update", meeting_id, "--subject", "Trade fair (day 1)")
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["isAllDay"] is True and event["subject"] == "Trade fair (day 1)"


def test_turned_into_a_timed_meeting_in_outlook_and_back_it_follows(
        cli: Cli, graph: GraphDouble) -> None:
    # All-day is part of the time fields: Outlook's change comes back to the booking.
    name, address = setup(cli, graph)
    meeting_id = book_fair(cli)
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    edit_in_outlook(graph, address, event["id"], isAllDay=False,
                    start={"dateTime": "2026-12-14T10:00:00", "timeZone": "Europe/Berlin"},
                    end={"dateTime": "2026-12-14T12:00:00", "timeZone": "Europe/Berlin"})
    assert "ok" in sync(cli, graph, name)
    assert meeting(cli, meeting_id)["occurred_at"] == "2026-12-14T09:00:00Z"
    shown = api_meeting(cli, meeting_id)
    assert shown["all_day"] is False and shown["end"].startswith("2026-12-14T11:00:00")
    # and back to all-day on the 15th, in Outlook
    edit_in_outlook(graph, address, event["id"], isAllDay=True,
                    start={"dateTime": "2026-12-15T00:00:00", "timeZone": "Europe/Berlin"},
                    end={"dateTime": "2026-12-16T00:00:00", "timeZone": "Europe/Berlin"})
    sync(cli, graph, name)
    assert meeting(cli, meeting_id)["occurred_at"] == "2026-12-15T00:00:00Z"
    shown = api_meeting(cli, meeting_id)
    assert shown["all_day"] is True and shown["end"].startswith("2026-12-16T00:00:00")
    # the CRM's next change writes days again, which Graph accepts only at midnight
    cli("calendar", "update", meeting_id, "--subject", "Fair, moved")
    assert "ok" in sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["isAllDay"] is True and event["subject"] == "Fair, moved"
    assert event["start"]["dateTime"] == "2026-12-14T23:00:00.0000000"


def test_a_timed_booking_turned_all_day_in_outlook_becomes_all_day(
        cli: Cli, graph: GraphDouble) -> None:
    name, address = setup(cli, graph)
    meeting_id = book(cli)
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    edit_in_outlook(graph, address, event["id"], isAllDay=True,
                    start={"dateTime": "2026-12-14T00:00:00", "timeZone": "UTC"},
                    end={"dateTime": "2026-12-15T00:00:00", "timeZone": "UTC"})
    sync(cli, graph, name)
    assert meeting(cli, meeting_id)["occurred_at"] == "2026-12-14T00:00:00Z"
    assert api_meeting(cli, meeting_id)["all_day"] is True
    cli("calendar", "update", meeting_id, "--with", "tom.becker@acme.example")
    assert "ok" in sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["isAllDay"] is True and sent_to(graph, address) == []


def test_update_makes_it_all_day_moves_its_days_and_makes_it_timed_again(
        cli: Cli, graph: GraphDouble) -> None:
    name, address = setup(cli, graph)
    meeting_id = book(cli)  # timed, in UTC
    sync(cli, graph, name)
    cli("calendar", "update", meeting_id, "--all-day")  # its own day
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["isAllDay"] is True
    assert (event["start"]["dateTime"], event["end"]["dateTime"]) == (
        "2026-12-14T00:00:00.0000000", "2026-12-15T00:00:00.0000000")
    cli("calendar", "update", meeting_id, "--start", "2026-12-18")  # a day, length kept
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["isAllDay"] is True and event["end"]["dateTime"].startswith("2026-12-19T00")
    assert meeting(cli, meeting_id)["occurred_at"] == "2026-12-18T00:00:00Z"
    refused = cli("calendar", "update", meeting_id, "--timed", "--start",
                  "2026-12-18T09:00:00Z", ok=False)
    assert refused.exit_code != 0 and "--start and --end" in refused.output
    cli("calendar", "update", meeting_id, "--timed", "--start", "2026-12-18T09:00:00Z",
        "--end", "2026-12-18T10:00:00Z")
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["isAllDay"] is False
    assert event["start"]["dateTime"].startswith("2026-12-18T09:00:00")
    assert sent_to(graph, address) == []
