"""Meetings booked in the CRM reach the owner's Microsoft 365 calendar, and come back.

Against the Graph double (``tests/fakes/graph_events.py``), which records every meeting
request, update and cancellation Exchange would send: a test fails when one goes out
unasked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Cli, load_sample_crm
from tests.fakes.graph_events import (
    delete_in_outlook,
    edit_in_outlook,
    leave_view,
    series_of,
)
from tests.fakes.graph_server import GraphDouble
from tests.graph.test_graph_sync import add_graph_mailbox, sync

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MARIA = "maria.lopez@northwind.example"
START = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)


def book(cli: Cli, *extra: str, subject: str = "Fleet review") -> str:
    return cli("calendar", "add", MARIA, "--subject", subject, "--start",
               "2026-12-14T10:00:00+01:00", "--end", "2026-12-14T11:00:00+01:00",
               "--with", "ana.ruiz@acme.example", "--link", "opportunity:opp-1",
               *extra).output.strip()


def calendar_events(graph: GraphDouble, address: str) -> list[dict]:
    box = graph.data.mailbox(address)
    return [i.data for i in box.items.values() if i.container in ("calendar",
                                                                  "calendar-masters")]


def event_writes(graph: GraphDouble) -> list:
    return [r for r in graph.requests if "/events" in r.url and r.method != "GET"]


def sent_to(graph: GraphDouble, address: str) -> list[dict]:
    return [i for i in graph.invitations if i["organizer"] == address]


def meeting(cli: Cli, meeting_id: str) -> dict:
    return next(a for a in cli.export_activities() if a["id"] == meeting_id)


def setup(cli: Cli, graph: GraphDouble) -> tuple[str, str]:
    load_sample_crm(cli)
    return add_graph_mailbox(cli, graph)


def test_a_booked_meeting_lands_in_the_calendar_without_an_invitation(
        cli: Cli, graph: GraphDouble) -> None:
    # The next sync writes it: subject, time, the people named in the body, no request sent.
    name, address = setup(cli, graph)
    meeting_id = book(cli)
    assert "ok" in sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["subject"] == "Fleet review"
    assert event["start"] == {"dateTime": "2026-12-14T09:00:00.0000000", "timeZone": "UTC"}
    assert event["attendees"] == []
    assert "ana.ruiz@acme.example" in event["body"]["content"]
    assert sent_to(graph, address) == []
    activity = meeting(cli, meeting_id)
    assert activity["sources"] == [{"mailbox": name, "folder": "calendar",
                                    "item_id": event["id"]}]
    # The next syncs see the event but neither duplicate the meeting nor write it again.
    before = len(graph.requests)
    assert "1 booked meetings seen unchanged" in sync(cli, graph, name)
    assert "ok" in sync(cli, graph, name)
    assert len([a for a in cli.export_activities() if a["kind"] == "meeting"]) == 1
    assert [r for r in graph.requests[before:] if "/events" in r.url] == []
    assert len(calendar_events(graph, address)) == 1


def test_update_and_cancel_reach_the_calendar_and_still_invite_nobody(
        cli: Cli, graph: GraphDouble) -> None:
    # Moved and renamed in the CRM → the event follows; cancelled → the event is deleted.
    name, address = setup(cli, graph)
    meeting_id = book(cli)
    sync(cli, graph, name)
    cli("calendar", "update", meeting_id, "--start", "2026-12-15T14:00:00Z", "--subject",
        "Fleet review (moved)", "--with", "tom.becker@acme.example")
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["subject"] == "Fleet review (moved)"
    assert event["start"]["dateTime"].startswith("2026-12-15T14:00:00")
    assert event["end"]["dateTime"].startswith("2026-12-15T15:00:00")
    assert event["attendees"] == [] and "tom.becker@acme.example" in event["body"]["content"]
    cli("calendar", "cancel", meeting_id)
    sync(cli, graph, name)
    assert calendar_events(graph, address) == []
    assert sent_to(graph, address) == []
    assert meeting(cli, meeting_id)["links"][0]["external_id"] == "opp-1"


def test_invite_sends_requests_updates_and_the_cancellation(
        cli: Cli, graph: GraphDouble) -> None:
    # --invite: the attendees get Exchange's request, then the update, then the cancellation.
    name, address = setup(cli, graph)
    meeting_id = book(cli, "--invite")
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == [
        "ana.ruiz@acme.example"]
    cli("calendar", "update", meeting_id, "--subject", "Fleet review v2")
    sync(cli, graph, name)
    cli("calendar", "cancel", meeting_id)
    sync(cli, graph, name)
    assert [(i["kind"], i["to"]) for i in sent_to(graph, address)] == [
        ("request", ["ana.ruiz@acme.example"]), ("update", ["ana.ruiz@acme.example"]),
        ("cancel", ["ana.ruiz@acme.example"])]


def test_invite_on_a_later_update_invites_from_then_on(cli: Cli, graph: GraphDouble) -> None:
    # Written quietly first; `update --invite` makes the people attendees: one request each.
    name, address = setup(cli, graph)
    meeting_id = book(cli)
    sync(cli, graph, name)
    assert sent_to(graph, address) == []
    cli("calendar", "update", meeting_id, "--invite")
    sync(cli, graph, name)
    assert [(i["kind"], i["to"]) for i in sent_to(graph, address)] == [
        ("update", ["ana.ruiz@acme.example"])]


def test_a_change_made_in_outlook_comes_back(cli: Cli, graph: GraphDouble) -> None:
    # The rep moves the meeting in Outlook: the CRM's meeting and its activity follow.
    name, address = setup(cli, graph)
    meeting_id = book(cli)
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    edit_in_outlook(graph, address, event["id"], start=START + timedelta(days=2),
                    end=START + timedelta(days=2, hours=1), subject="Moved by Maria")
    sync(cli, graph, name)
    activity = meeting(cli, meeting_id)
    assert activity["occurred_at"] == "2026-12-16T09:00:00Z"
    assert activity["subject"] == "Moved by Maria"
    assert len([a for a in cli.export_activities() if a["kind"] == "meeting"]) == 1


def test_a_newer_outlook_change_is_never_overwritten_by_the_crm(
        cli: Cli, graph: GraphDouble) -> None:
    # The CRM moves it, then the rep moves it in Outlook before the sync: 412 on If-Match,
    # the calendar's later time stands, and the CRM's change to another field still goes.
    name, address = setup(cli, graph)
    meeting_id = book(cli)
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    cli("calendar", "update", meeting_id, "--start", "2026-12-20T09:00:00Z",
        "--subject", "Renamed in the CRM")
    edit_in_outlook(graph, address, event["id"], start=START + timedelta(days=3),
                    end=START + timedelta(days=3, hours=1))
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["start"]["dateTime"].startswith("2026-12-17T09:00:00")
    assert event["subject"] == "Renamed in the CRM"
    assert meeting(cli, meeting_id)["occurred_at"] == "2026-12-17T09:00:00Z"


def test_a_crm_change_made_after_the_outlook_change_wins(cli: Cli, graph: GraphDouble) -> None:
    # The same field on both sides: the later change wins, here the CRM's.
    name, address = setup(cli, graph)
    meeting_id = book(cli)
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    edit_in_outlook(graph, address, event["id"], subject="Outlook's subject")
    cli("calendar", "update", meeting_id, "--subject", "The CRM's later subject")
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    assert event["subject"] == "The CRM's later subject"
    assert meeting(cli, meeting_id)["subject"] == "The CRM's later subject"


def test_leaving_the_synced_view_never_cancels_the_meeting(cli: Cli, graph: GraphDouble) -> None:
    # A @removed in the delta (a record leaving a filter, the window) is checked: the event
    # is still there, so nothing is cancelled or deleted; untracking a link changes nothing.
    name, address = setup(cli, graph)
    meeting_id = book(cli)
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    sync(cli, graph, name)  # the delta shows the event written
    leave_view(graph, address, event["id"])
    assert "1 booked meetings left the calendar view" in sync(cli, graph, name)
    assert [e["id"] for e in calendar_events(graph, address)] == [event["id"]]
    assert not [r for r in event_writes(graph) if r.method == "DELETE" and address in r.url]
    cli("calendar", "update", meeting_id, "--subject", "Still on")
    sync(cli, graph, name)
    assert calendar_events(graph, address)[0]["subject"] == "Still on"


def test_deleting_in_outlook_cancels_the_booking_and_keeps_its_links(
        cli: Cli, graph: GraphDouble) -> None:
    # The rep deletes the event: the booking is cancelled (no longer updatable), links stay.
    name, address = setup(cli, graph)
    meeting_id = book(cli)
    sync(cli, graph, name)
    [event] = calendar_events(graph, address)
    delete_in_outlook(graph, address, event["id"])
    sync(cli, graph, name)
    assert "cancelled" in cli("calendar", "update", meeting_id, "--subject", "x",
                              ok=False).output
    assert meeting(cli, meeting_id)["links"][0]["external_id"] == "opp-1"


def test_a_series_is_one_recurrence_and_every_occurrence_keeps_its_link(
        cli: Cli, graph: GraphDouble) -> None:
    # weekly:4 → one seriesMaster with a numbered weekly recurrence; each occurrence's
    # activity has the calendar's occurrence as its source and the CRM's link.
    name, address = setup(cli, graph)
    meeting_id = book(cli, "--repeat", "weekly:4", "--timezone", "Europe/Berlin")
    sync(cli, graph, name)
    [master] = [e for e in calendar_events(graph, address) if e["type"] == "seriesMaster"]
    assert master["recurrence"]["range"]["numberOfOccurrences"] == 4
    assert master["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    occurrences = series_of(graph, address, master["id"])
    assert len(occurrences) == 4
    assert "4 booked meetings seen unchanged" in sync(cli, graph, name)
    activities = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    assert len(activities) == 4 and activities[0]["id"] == meeting_id
    for activity in activities:
        assert [link["external_id"] for link in activity["links"]] == ["opp-1"]
    sources = [a["sources"][0]["item_id"] for a in activities[1:]]
    assert sources == [o["id"] for o in occurrences[1:]]
    assert sent_to(graph, address) == []


def test_an_occurrence_moved_or_cancelled_in_outlook_comes_back_with_its_link(
        cli: Cli, graph: GraphDouble) -> None:
    # The rep moves the 2nd occurrence and deletes the 3rd: the CRM shows both, linked.
    name, address = setup(cli, graph)
    meeting_id = book(cli, "--repeat", "weekly:3")
    sync(cli, graph, name)
    [master] = [e for e in calendar_events(graph, address) if e["type"] == "seriesMaster"]
    first, second, third = series_of(graph, address, master["id"])
    moved = START + timedelta(days=8, hours=5)
    edit_in_outlook(graph, address, second["id"], start=moved, end=moved + timedelta(hours=1))
    delete_in_outlook(graph, address, third["id"])
    sync(cli, graph, name)
    activities = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    assert [a["occurred_at"] for a in activities] == [
        "2026-12-14T09:00:00Z", "2026-12-22T14:00:00Z", "2026-12-28T09:00:00Z"]
    for activity in activities:
        assert [link["external_id"] for link in activity["links"]] == ["opp-1"]
    with cli.session() as session:
        from sqlalchemy import select

        from crmsync.crm.bookings import BookedOccurrence
        states = session.scalars(select(BookedOccurrence.status).order_by(
            BookedOccurrence.original_start)).all()
    assert states == ["confirmed", "moved", "cancelled"]
    assert meeting_id == activities[0]["id"]


def test_a_calendar_change_the_delta_has_not_shown_yet_meets_if_match(
        cli: Cli, graph: GraphDouble) -> None:
    # Outlook changed the time after the last delta: the CRM's PATCH names the old etag,
    # Exchange answers 412, and the calendar's newer time is kept, the CRM's subject added.
    name, address = setup(cli, graph)
    meeting_id = book(cli)
    sync(cli, graph, name)
    sync(cli, graph, name)  # the delta shows the event written: nothing changed
    [event] = calendar_events(graph, address)
    cli("calendar", "update", meeting_id, "--start", "2026-12-20T09:00:00Z",
        "--subject", "Renamed in the CRM")
    edit_unseen(graph, address, event["id"], start=START + timedelta(days=3),
                end=START + timedelta(days=3, hours=1))
    sync(cli, graph, name)
    assert [r.status for r in event_writes(graph) if r.method == "PATCH"
            and event["id"] in r.url] == [412, 200]
    [event] = calendar_events(graph, address)
    assert event["start"]["dateTime"].startswith("2026-12-17T09:00:00")
    assert event["subject"] == "Renamed in the CRM"
    assert meeting(cli, meeting_id)["occurred_at"] == "2026-12-17T09:00:00Z"


def edit_unseen(graph: GraphDouble, address: str, item_id: str, **fields) -> None:
    """Change the event in Exchange without the change reaching the delta yet."""
    from tests.fakes.graph_events import new_version

    data = graph.data.mailbox(address).items[item_id].data
    for key in ("start", "end"):
        data[key] = {"dateTime": fields[key].strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                     "timeZone": "UTC"}
    new_version(data)


def test_a_crash_after_the_calendar_created_the_event_never_makes_a_second(
        cli: Cli, graph: GraphDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    # The run dies after Exchange created the event and before crmsync stored its id: the
    # next run finds the event by crmsync's extended property instead of creating another.
    from crmsync.sync_service.engine import calendar_writeback

    name, address = setup(cli, graph)
    book(cli)

    def crash(*args, **kwargs):
        raise RuntimeError("killed between the calendar's answer and the commit")

    monkeypatch.setattr(calendar_writeback, "bind_created", crash)
    sync(cli, graph, name, ok=False)
    assert len(calendar_events(graph, address)) == 1
    monkeypatch.undo()
    assert "ok" in sync(cli, graph, name)
    assert len(calendar_events(graph, address)) == 1
    [activity] = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    assert activity["sources"][0]["item_id"] == calendar_events(graph, address)[0]["id"]


def test_a_capture_rule_that_drops_the_customer_never_cancels_the_meeting(
        cli: Cli, graph: GraphDouble) -> None:
    # The organization blocks the customer's domain (a record leaves the sync filter):
    # whatever the CRM then holds, the rep's calendar keeps the meeting and nobody is told.
    name, address = setup(cli, graph)
    book(cli, "--invite")
    sync(cli, graph, name)
    # The privacy rule purges what it forbids, the booked meeting's activity included.
    assert "1 captured activities purged" in cli("rules", "add", "block-domain",
                                                 "acme.example").output
    sync(cli, graph, name)
    sync(cli, graph, name)
    assert len(calendar_events(graph, address)) == 1
    assert [i["kind"] for i in sent_to(graph, address)] == ["request"]
    assert not [r for r in event_writes(graph) if r.method == "DELETE" and address in r.url]


def test_a_series_moved_in_the_crm_moves_every_occurrence_with_its_link(
        cli: Cli, graph: GraphDouble) -> None:
    # The CRM moves a weekly series a week and an hour later: the calendar's series and
    # every occurrence's activity follow, each still linked and backed by its occurrence.
    name, address = setup(cli, graph)
    meeting_id = book(cli, "--repeat", "weekly:3")
    sync(cli, graph, name)
    cli("calendar", "update", meeting_id, "--start", "2026-12-21T10:00:00Z")
    sync(cli, graph, name)
    [master] = [e for e in calendar_events(graph, address) if e["type"] == "seriesMaster"]
    occurrences = series_of(graph, address, master["id"])
    assert [o["start"]["dateTime"][:16] for o in occurrences] == [
        "2026-12-21T10:00", "2026-12-28T10:00", "2027-01-04T10:00"]
    activities = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    assert [a["occurred_at"] for a in activities] == [
        "2026-12-21T10:00:00Z", "2026-12-28T10:00:00Z", "2027-01-04T10:00:00Z"]
    for activity in activities:
        assert [link["external_id"] for link in activity["links"]] == ["opp-1"]
    assert [a["sources"][0]["item_id"] for a in activities[1:]] == [
        o["id"] for o in occurrences[1:]]
    assert sent_to(graph, address) == []
