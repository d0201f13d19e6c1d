"""Meetings booked in the CRM reach the owner's Exchange calendar over EWS, and come back.

Against the EWS double driven by the real exchangelib; the double records every
CreateItem/UpdateItem/DeleteItem's invitation mode and whether a request went out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Cli, load_sample_crm
from tests.ews.helpers import add_ews_mailbox, sync
from tests.fakes.ews_calendar_writes import (
    change_unseen,
    delete_occurrence,
    edit_item,
    move_occurrence,
)
from tests.fakes.ews_server import EwsDouble

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MARIA = "maria.lopez@northwind.example"
START = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)


def book(cli: Cli, *extra: str) -> str:
    return cli("calendar", "add", MARIA, "--subject", "Fleet review", "--start",
               "2026-12-14T10:00:00+01:00", "--end", "2026-12-14T11:00:00+01:00",
               "--with", "ana.ruiz@acme.example", "--link", "opportunity:opp-1",
               *extra).output.strip()


def items(ews: EwsDouble, address: str) -> list:
    box = ews.mailbox(address)
    calendar = box.folder_id("calendar")
    return [i for i in box.items.values() if i.folder_id == calendar]


def messages(ews: EwsDouble, address: str) -> list[dict]:
    return [m for m in ews.meeting_messages if m["mailbox"] == address]


def meetings(cli: Cli) -> list[dict]:
    return [a for a in cli.export_activities() if a["kind"] == "meeting"]


def setup(cli: Cli, ews: EwsDouble) -> tuple[str, str]:
    load_sample_crm(cli)
    return add_ews_mailbox(cli, ews, "--no-contacts")


def test_written_with_send_to_none_updated_and_cancelled_without_invitations(
        cli: Cli, ews: EwsDouble) -> None:
    # CreateItem SendToNone (the people in the body), UpdateItem SendToNone, DeleteItem
    # SendToNone: the customer hears nothing; the sync after sees the item and adds nothing.
    name, address = setup(cli, ews)
    meeting_id = book(cli)
    assert "ok" in sync(cli, ews, name)
    [item] = items(ews, address)
    assert item.props["subject"] == "Fleet review"
    assert item.props["start"] == START and item.props["attendees"] == []
    assert "ana.ruiz@acme.example" in item.props["body"]
    before = len(ews.requests)
    assert "1 booked meetings seen unchanged" in sync(cli, ews, name)
    assert [r.operation for r in ews.requests[before:] if r.mailbox == address
            and r.operation in ("GetItem", "UpdateItem")] == ["GetItem"]  # the sync's MIME
    assert len(meetings(cli)) == 1
    assert meetings(cli)[0]["sources"][0]["item_id"] == item.id
    cli("calendar", "update", meeting_id, "--subject", "Fleet review v2", "--start",
        "2026-12-15T14:00:00Z")
    sync(cli, ews, name)
    [item] = items(ews, address)
    assert item.props["subject"] == "Fleet review v2"
    assert item.props["start"] == datetime(2026, 12, 15, 14, 0, tzinfo=UTC)
    assert item.props["end"] == datetime(2026, 12, 15, 15, 0, tzinfo=UTC)
    cli("calendar", "cancel", meeting_id)
    sync(cli, ews, name)
    assert items(ews, address) == []
    assert [(m["operation"], m["mode"], m["sent"]) for m in messages(ews, address)] == [
        ("CreateItem", "SendToNone", False), ("UpdateItem", "SendToNone", False),
        ("DeleteItem", "SendToNone", False)]


def test_invite_sends_the_request_the_changes_and_the_cancellation(
        cli: Cli, ews: EwsDouble) -> None:
    # --invite: SendToAllAndSaveCopy with the attendees, SendToChangedAndSaveCopy, then the
    # cancellation to all.
    name, address = setup(cli, ews)
    meeting_id = book(cli, "--invite")
    sync(cli, ews, name)
    cli("calendar", "update", meeting_id, "--subject", "Fleet review v2")
    sync(cli, ews, name)
    cli("calendar", "cancel", meeting_id)
    sync(cli, ews, name)
    assert [(m["operation"], m["mode"], m["to"]) for m in messages(ews, address)] == [
        ("CreateItem", "SendToAllAndSaveCopy", ["ana.ruiz@acme.example"]),
        ("UpdateItem", "SendToChangedAndSaveCopy", ["ana.ruiz@acme.example"]),
        ("DeleteItem", "SendToAllAndSaveCopy", ["ana.ruiz@acme.example"])]


def test_a_newer_exchange_change_survives_a_crm_change(cli: Cli, ews: EwsDouble) -> None:
    # Changed in Outlook after the CRM's edit and before the sync saw it: NeverOverwrite
    # with the old ChangeKey is refused, Exchange's later time stays, the CRM's subject goes.
    name, address = setup(cli, ews)
    meeting_id = book(cli)
    sync(cli, ews, name)
    sync(cli, ews, name)
    [item] = items(ews, address)
    cli("calendar", "update", meeting_id, "--start", "2026-12-20T09:00:00Z", "--subject",
        "Renamed in the CRM")
    later = START + timedelta(days=3)
    change_unseen(ews.mailbox(address), item.id, start=later, end=later + timedelta(hours=1))
    before = len(ews.requests)
    sync(cli, ews, name)
    # the write against the old ChangeKey, refused; the read; the merged write
    operations = [r.operation for r in ews.requests[before:] if r.mailbox == address]
    assert [o for o in operations if o in ("UpdateItem", "GetItem")] == [
        "UpdateItem", "GetItem", "UpdateItem", "GetItem"]
    [item] = items(ews, address)
    assert item.props["start"] == later and item.props["subject"] == "Renamed in the CRM"
    assert meetings(cli)[0]["occurred_at"] == "2026-12-17T09:00:00Z"
    assert [m["operation"] for m in messages(ews, address)] == ["CreateItem", "UpdateItem"]


def test_a_change_made_in_outlook_comes_back(cli: Cli, ews: EwsDouble) -> None:
    # Moved and renamed in Outlook: the CRM meeting follows at the next sync.
    name, address = setup(cli, ews)
    meeting_id = book(cli)
    sync(cli, ews, name)
    [item] = items(ews, address)
    moved = START + timedelta(days=2)
    edit_item(ews.mailbox(address), item.id, start=moved, end=moved + timedelta(hours=1),
              subject="Moved in Outlook")
    sync(cli, ews, name)
    [activity] = meetings(cli)
    assert activity["id"] == meeting_id and activity["subject"] == "Moved in Outlook"
    assert activity["occurred_at"] == "2026-12-16T09:00:00Z"


def test_a_series_round_trips_and_every_occurrence_keeps_its_link(
        cli: Cli, ews: EwsDouble) -> None:
    # weekly:3 is one item with a WeeklyPattern; the rep moves the 2nd and deletes the 3rd
    # occurrence in Outlook: the CRM shows them moved and cancelled, each still linked.
    name, address = setup(cli, ews)
    book(cli, "--repeat", "weekly:3", "--timezone", "Europe/Berlin")
    sync(cli, ews, name)
    [master] = items(ews, address)
    assert master.props["count"] == 3
    assert "3 booked meetings seen unchanged" in sync(cli, ews, name)
    box = ews.mailbox(address)
    moved = START + timedelta(days=8, hours=5)
    move_occurrence(box, master.id, 2, moved, moved + timedelta(hours=1))
    delete_occurrence(box, master.id, 3)
    sync(cli, ews, name)
    activities = meetings(cli)
    assert [a["occurred_at"] for a in activities] == [
        "2026-12-14T09:00:00Z", "2026-12-22T14:00:00Z", "2026-12-28T09:00:00Z"]
    for activity in activities:
        assert [link["external_id"] for link in activity["links"]] == ["opp-1"]
    with cli.session() as session:
        from sqlalchemy import select

        from crmsync.crm.bookings import BookedOccurrence
        assert session.scalars(select(BookedOccurrence.status).order_by(
            BookedOccurrence.original_start)).all() == ["confirmed", "moved", "cancelled"]
    assert all(not m["sent"] for m in messages(ews, address))
