"""One occurrence of a series booked in the CRM, changed or cancelled from the CRM.

``crmsync calendar update|cancel ID --occurrence START`` is written to that occurrence
alone, as an exception of the series, in Microsoft 365 (Graph, PATCH/DELETE on the
instance with If-Match) and Exchange (EWS, UpdateItem/DeleteItem of the
OccurrenceItemId): the rest of the series is not touched, every occurrence keeps its
CRM link, nobody is invited unless the meeting was, and a newer change made in Outlook
is never overwritten.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crmsync.crm.bookings import BookedMeeting, BookedOccurrence
from tests.conftest import Cli, load_sample_crm
from tests.ews.helpers import add_ews_mailbox
from tests.ews.helpers import sync as ews_sync
from tests.fakes.ews_server import EwsDouble
from tests.fakes.graph_events import edit_in_outlook, series_of
from tests.fakes.graph_server import GraphDouble
from tests.graph.test_graph_sync import add_graph_mailbox, sync

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MARIA = "maria.lopez@northwind.example"
# weekly:3 from Monday 14 December 2026, 09:00 UTC
SLOTS = ("2026-12-14T09:00:00Z", "2026-12-21T09:00:00Z", "2026-12-28T09:00:00Z")


def book_series(cli: Cli, *extra: str) -> str:
    return cli("calendar", "add", MARIA, "--subject", "Fleet review", "--start",
               "2026-12-14T10:00:00+01:00", "--end", "2026-12-14T11:00:00+01:00",
               "--with", "ana.ruiz@acme.example", "--link", "opportunity:opp-1",
               "--repeat", "weekly:3", *extra).output.strip()


def meetings(cli: Cli) -> list[dict]:
    return [a for a in cli.export_activities() if a["kind"] == "meeting"]


def statuses(cli: Cli) -> list[str]:
    with cli.session() as session:
        return list(session.scalars(select(BookedOccurrence.status).order_by(
            BookedOccurrence.original_start)))


def graph_master(graph: GraphDouble, address: str) -> dict:
    box = graph.data.mailbox(address)
    [master] = [i.data for i in box.items.values() if i.container == "calendar-masters"]
    return master


def mine(ews: EwsDouble, address: str) -> list[dict]:
    return [m for m in ews.meeting_messages if m["mailbox"] == address]


def sent_to(graph: GraphDouble, address: str) -> list[dict]:
    return [i for i in graph.invitations if i["organizer"] == address]


def test_graph_one_occurrence_cancelled_and_another_moved_from_the_crm(
        cli: Cli, graph: GraphDouble) -> None:
    # The CRM cancels the 2nd occurrence and moves and renames the 3rd: Outlook's series
    # loses the 2nd and holds the 3rd as an exception; the 1st and the master are as they
    # were; each activity keeps its link; nobody hears of it.
    load_sample_crm(cli)
    name, address = add_graph_mailbox(cli, graph)
    meeting_id = book_series(cli)
    sync(cli, graph, name)
    master = graph_master(graph, address)
    first, second, third = series_of(graph, address, master["id"])
    cli("calendar", "cancel", meeting_id, "--occurrence", SLOTS[1])
    cli("calendar", "update", meeting_id, "--occurrence", "2026-12-28T10:00:00+01:00",
        "--start", "2026-12-29T15:00:00Z", "--subject", "Fleet review (Tuesday)")
    before = len(graph.requests)
    assert "ok" in sync(cli, graph, name)
    writes = [(r.method, r.url.split("/events/")[-1].split("?")[0])
              for r in graph.requests[before:] if "/events" in r.url and r.method != "GET"]
    assert sorted(writes) == sorted([("DELETE", second["id"]), ("PATCH", third["id"])])
    kept = series_of(graph, address, master["id"])
    assert [(o["id"], o["type"], o["subject"], o["start"]["dateTime"][:16]) for o in kept] == [
        (first["id"], "occurrence", "Fleet review", "2026-12-14T09:00"),
        (third["id"], "exception", "Fleet review (Tuesday)", "2026-12-29T15:00")]
    assert graph_master(graph, address)["subject"] == "Fleet review"
    assert sent_to(graph, address) == []
    activities = meetings(cli)
    assert [(a["subject"], a["occurred_at"]) for a in activities] == [
        ("Fleet review", SLOTS[0]), ("Fleet review", SLOTS[1]),
        ("Fleet review (Tuesday)", "2026-12-29T15:00:00Z")]
    for activity in activities:
        assert [link["external_id"] for link in activity["links"]] == ["opp-1"]
    assert activities[2]["sources"][0]["item_id"] == third["id"]
    assert statuses(cli) == ["confirmed", "cancelled", "moved"]
    # The next syncs see their own writes: nothing is written again, nothing undone.
    before = len(graph.requests)
    sync(cli, graph, name)
    sync(cli, graph, name)
    assert [r for r in graph.requests[before:] if "/events" in r.url
            and r.method != "GET"] == []
    assert statuses(cli) == ["confirmed", "cancelled", "moved"]
    assert len(series_of(graph, address, master["id"])) == 2


def test_graph_invited_series_one_cancellation_goes_to_the_attendees(
        cli: Cli, graph: GraphDouble) -> None:
    # An invited series: cancelling one occurrence sends that occurrence's cancellation
    # (Exchange's, on the instance's DELETE) and nothing about the rest.
    load_sample_crm(cli)
    name, address = add_graph_mailbox(cli, graph)
    meeting_id = book_series(cli, "--invite")
    sync(cli, graph, name)
    cli("calendar", "cancel", meeting_id, "--occurrence", SLOTS[2])
    sync(cli, graph, name)
    assert [(i["kind"], i["to"]) for i in sent_to(graph, address)] == [
        ("request", ["ana.ruiz@acme.example"]), ("cancel", ["ana.ruiz@acme.example"])]
    assert len(series_of(graph, address, graph_master(graph, address)["id"])) == 2


def test_graph_a_newer_outlook_change_of_the_occurrence_is_not_overwritten(
        cli: Cli, graph: GraphDouble) -> None:
    # The CRM moves and renames the 3rd occurrence; then, before the sync, the rep moves
    # that occurrence elsewhere in Outlook. The CRM's PATCH meets If-Match (412); the
    # occurrence is read and decided per field: Outlook's later time stands, the CRM's
    # rename (which Outlook did not touch) is written; the booking says what was kept.
    load_sample_crm(cli)
    name, address = add_graph_mailbox(cli, graph)
    meeting_id = book_series(cli)
    sync(cli, graph, name)
    third = series_of(graph, address, graph_master(graph, address)["id"])[2]
    cli("calendar", "update", meeting_id, "--occurrence", SLOTS[2], "--start",
        "2026-12-29T15:00:00Z", "--subject", "Fleet review (Tuesday)")
    outlook = datetime(2026, 12, 30, 8, 0, tzinfo=UTC)
    edit_in_outlook(graph, address, third["id"], start=outlook,
                    end=outlook + timedelta(hours=1))
    sync(cli, graph, name)
    [now] = [o for o in series_of(graph, address, graph_master(graph, address)["id"])
             if o["id"] == third["id"]]
    assert (now["subject"], now["start"]["dateTime"][:16]) == (
        "Fleet review (Tuesday)", "2026-12-30T08:00")
    assert [(a["subject"], a["occurred_at"]) for a in meetings(cli)][2] == (
        "Fleet review (Tuesday)", "2026-12-30T08:00:00Z")
    with cli.session() as session:
        error = session.scalar(select(BookedMeeting.last_error))
    assert "the calendar's later change of start, end kept" in error
    assert sent_to(graph, address) == []


def test_an_occurrence_is_named_by_its_slot_and_only_in_a_series(cli: Cli) -> None:
    # A time that is no occurrence's, or a single meeting, is refused with the reason.
    load_sample_crm(cli)
    meeting_id = book_series(cli)
    refused = cli("calendar", "cancel", meeting_id, "--occurrence", "2026-12-15T09:00:00Z",
                  ok=False)
    assert "no occurrence at 2026-12-15T09:00:00Z" in refused.output
    assert SLOTS[1] in refused.output
    single = cli("calendar", "add", MARIA, "--subject", "One-off", "--start",
                 "2026-12-14T10:00:00Z", "--end", "2026-12-14T11:00:00Z").output.strip()
    assert "not a series" in cli("calendar", "cancel", single, "--occurrence",
                                 "2026-12-14T10:00:00Z", ok=False).output
    assert "whole meeting" in cli("calendar", "update", meeting_id, "--occurrence", SLOTS[0],
                                  "--with", "x@acme.example", ok=False).output
    assert statuses(cli) == ["confirmed", "confirmed", "confirmed"]


def test_ews_one_occurrence_cancelled_and_another_moved_with_send_to_none(
        cli: Cli, ews: EwsDouble) -> None:
    # Exchange: UpdateItem and DeleteItem of the OccurrenceItemId, SendToNone; the item
    # keeps its series with the 2nd deleted and the 3rd an exception; links all kept.
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-contacts")
    meeting_id = book_series(cli)
    ews_sync(cli, ews, name)
    cli("calendar", "cancel", meeting_id, "--occurrence", SLOTS[1])
    cli("calendar", "update", meeting_id, "--occurrence", SLOTS[2], "--start",
        "2026-12-29T15:00:00Z")
    before = len(mine(ews, address))
    assert "ok" in ews_sync(cli, ews, name)
    box = ews.mailbox(address)
    [master] = [i for i in box.items.values() if i.folder_id == box.folder_id("calendar")]
    assert master.props["count"] == 3
    assert master.props["deleted"] == {2}
    moved = datetime(2026, 12, 29, 15, 0, tzinfo=UTC)
    assert master.props["moved"] == {3: (moved, moved + timedelta(hours=1))}
    assert master.props["subject"] == "Fleet review"
    written = mine(ews, address)[before:]
    assert sorted((m["operation"], m["mode"]) for m in written) == [
        ("DeleteItem", "SendToNone"), ("UpdateItem", "SendToNone")]
    assert not any(m["sent"] for m in mine(ews, address))
    activities = meetings(cli)
    assert [a["occurred_at"] for a in activities] == [SLOTS[0], SLOTS[1],
                                                      "2026-12-29T15:00:00Z"]
    for activity in activities:
        assert [link["external_id"] for link in activity["links"]] == ["opp-1"]
    assert statuses(cli) == ["confirmed", "cancelled", "moved"]
    # The sync after reads the series back and keeps the CRM's picture; nothing more is sent.
    ews_sync(cli, ews, name)
    assert statuses(cli) == ["confirmed", "cancelled", "moved"]
    assert len(mine(ews, address)) == before + 2


def test_ews_an_occurrence_moved_in_outlook_after_the_crm_change_stands(
        cli: Cli, ews: EwsDouble) -> None:
    # The CRM moves and renames the 3rd occurrence; then the rep moves it in Outlook
    # before the sync. The CRM's UpdateItem names the old ChangeKey and is refused: the
    # later time (Outlook's) stands, the CRM's rename lands, in Exchange and in the CRM.
    from tests.fakes.ews_calendar_writes import move_occurrence

    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-contacts")
    meeting_id = book_series(cli)
    ews_sync(cli, ews, name)
    cli("calendar", "update", meeting_id, "--occurrence", SLOTS[2], "--subject", "Renamed",
        "--start", "2026-12-29T15:00:00Z")
    box = ews.mailbox(address)
    [master] = [i for i in box.items.values() if i.folder_id == box.folder_id("calendar")]
    moved = datetime(2026, 12, 30, 8, 0, tzinfo=UTC)
    move_occurrence(box, master.id, 3, moved, moved + timedelta(hours=1))
    ews_sync(cli, ews, name)
    assert master.props["moved"] == {3: (moved, moved + timedelta(hours=1))}
    assert master.props["subjects"] == {3: "Renamed"}
    assert [(a["subject"], a["occurred_at"]) for a in meetings(cli)][2] == (
        "Renamed", "2026-12-30T08:00:00Z")
    assert statuses(cli) == ["confirmed", "confirmed", "moved"]
    assert not any(m["sent"] for m in mine(ews, address))


def test_ews_a_series_rename_and_an_occurrence_move_in_one_sync_both_land(
        cli: Cli, ews: EwsDouble) -> None:
    # The occurrence is written first, against its version; the series' rename then meets
    # the series' new ChangeKey, reads it and writes the subject: both changes land, the
    # moved occurrence keeps its own time.
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-contacts")
    meeting_id = book_series(cli)
    ews_sync(cli, ews, name)
    cli("calendar", "update", meeting_id, "--occurrence", SLOTS[1], "--start",
        "2026-12-22T14:00:00Z")
    cli("calendar", "update", meeting_id, "--subject", "Fleet review 2027")
    assert "ok" in ews_sync(cli, ews, name)
    box = ews.mailbox(address)
    [master] = [i for i in box.items.values() if i.folder_id == box.folder_id("calendar")]
    assert master.props["subject"] == "Fleet review 2027"
    moved = datetime(2026, 12, 22, 14, 0, tzinfo=UTC)
    assert master.props["moved"] == {2: (moved, moved + timedelta(hours=1))}
    ews_sync(cli, ews, name)
    assert [(a["subject"], a["occurred_at"]) for a in meetings(cli)] == [
        ("Fleet review 2027", SLOTS[0]), ("Fleet review 2027", "2026-12-22T14:00:00Z"),
        ("Fleet review 2027", SLOTS[2])]
    assert statuses(cli) == ["confirmed", "moved", "confirmed"]
    assert not any(m["sent"] for m in mine(ews, address))


def test_graph_a_cancellation_the_rep_overtook_in_outlook_is_not_applied(
        cli: Cli, graph: GraphDouble) -> None:
    # The CRM cancels the 2nd occurrence; the rep then moves it in Outlook: the later
    # change stands, so the occurrence stays (moved) in the calendar and in the CRM.
    load_sample_crm(cli)
    name, address = add_graph_mailbox(cli, graph)
    meeting_id = book_series(cli)
    sync(cli, graph, name)
    second = series_of(graph, address, graph_master(graph, address)["id"])[1]
    cli("calendar", "cancel", meeting_id, "--occurrence", SLOTS[1])
    outlook = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)
    edit_in_outlook(graph, address, second["id"], start=outlook,
                    end=outlook + timedelta(hours=1))
    sync(cli, graph, name)
    assert second["id"] in [o["id"] for o in series_of(
        graph, address, graph_master(graph, address)["id"])]
    assert statuses(cli) == ["confirmed", "moved", "confirmed"]
    assert meetings(cli)[1]["occurred_at"] == "2026-12-22T08:00:00Z"
    with cli.session() as session:
        assert "not cancelled" in session.scalar(select(BookedMeeting.last_error))


def test_graph_an_occurrence_renamed_in_outlook_comes_back_to_its_activity(
        cli: Cli, graph: GraphDouble) -> None:
    # The rep renames one occurrence in Outlook (an exception): that occurrence's
    # activity takes the subject; the others and the series keep theirs, links kept.
    load_sample_crm(cli)
    name, address = add_graph_mailbox(cli, graph)
    book_series(cli)
    sync(cli, graph, name)
    second = series_of(graph, address, graph_master(graph, address)["id"])[1]
    edit_in_outlook(graph, address, second["id"], subject="Fleet review at the depot")
    sync(cli, graph, name)
    assert [a["subject"] for a in meetings(cli)] == [
        "Fleet review", "Fleet review at the depot", "Fleet review"]
    assert all([link["external_id"] for link in a["links"]] == ["opp-1"]
               for a in meetings(cli))
    assert graph_master(graph, address)["subject"] == "Fleet review"
