"""All-day meetings booked in the CRM reach Exchange as all-day items, and come back.

Against the EWS double driven by the real exchangelib: it keeps ``IsAllDayEvent``, the
Start/End instants and the item's zone, and records each write's invitation mode.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.bookings.test_all_day_graph import api_meeting, book_fair
from tests.bookings.test_ews_writeback import book, items, meetings, messages, setup
from tests.conftest import Cli
from tests.ews.helpers import sync
from tests.fakes.ews_calendar_writes import edit_item
from tests.fakes.ews_server import EwsDouble

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
BERLIN_MIDNIGHT_14 = datetime(2026, 12, 13, 23, 0, tzinfo=UTC)


def test_an_all_day_booking_is_an_all_day_item_sent_to_none(cli: Cli, ews: EwsDouble) -> None:
    name, address = setup(cli, ews)
    meeting_id = book_fair(cli, "--end", "2026-12-16")
    assert "ok" in sync(cli, ews, name)
    [item] = items(ews, address)
    assert item.props["all_day"] is True
    # midnight in Berlin to the midnight after the second day (End exclusive)
    assert item.props["start"] == BERLIN_MIDNIGHT_14
    assert item.props["end"] == datetime(2026, 12, 15, 23, 0, tzinfo=UTC)
    assert [(m["operation"], m["mode"], m["sent"]) for m in messages(ews, address)] == [
        ("CreateItem", "SendToNone", False)]
    assert [m["occurred_at"] for m in meetings(cli)] == ["2026-12-14T00:00:00Z"]
    # read back (its days, in its zone): nothing to write
    cli("calendar", "update", meeting_id, "--subject", "Trade fair, both days")
    sync(cli, ews, name)
    [item] = items(ews, address)
    assert item.props["all_day"] is True and item.props["start"] == BERLIN_MIDNIGHT_14
    assert item.props["subject"] == "Trade fair, both days"
    shown = api_meeting(cli, meeting_id)
    assert shown["all_day"] is True and shown["end"].startswith("2026-12-16T00:00:00")
    assert [m["mode"] for m in messages(ews, address)] == ["SendToNone", "SendToNone"]


def test_turned_timed_and_back_in_outlook_it_follows(cli: Cli, ews: EwsDouble) -> None:
    name, address = setup(cli, ews)
    meeting_id = book_fair(cli)
    sync(cli, ews, name)
    [item] = items(ews, address)
    edit_item(ews.mailbox(address), item.id, all_day=False,
              start=datetime(2026, 12, 14, 9, 0, tzinfo=UTC),
              end=datetime(2026, 12, 14, 10, 0, tzinfo=UTC))
    sync(cli, ews, name)
    assert meetings(cli)[0]["occurred_at"] == "2026-12-14T09:00:00Z"
    assert api_meeting(cli, meeting_id)["all_day"] is False
    edit_item(ews.mailbox(address), item.id, all_day=True,
              start=datetime(2026, 12, 14, 23, 0, tzinfo=UTC),
              end=datetime(2026, 12, 15, 23, 0, tzinfo=UTC))
    sync(cli, ews, name)
    assert [m["occurred_at"] for m in meetings(cli)] == ["2026-12-15T00:00:00Z"]
    assert api_meeting(cli, meeting_id)["all_day"] is True


def test_a_timed_booking_turned_all_day_in_outlook_becomes_all_day(
        cli: Cli, ews: EwsDouble) -> None:
    name, address = setup(cli, ews)
    meeting_id = book(cli)
    sync(cli, ews, name)
    [item] = items(ews, address)
    edit_item(ews.mailbox(address), item.id, all_day=True,
              start=datetime(2026, 12, 14, 0, 0, tzinfo=UTC),
              end=datetime(2026, 12, 15, 0, 0, tzinfo=UTC))
    sync(cli, ews, name)
    assert meetings(cli)[0]["occurred_at"] == "2026-12-14T00:00:00Z"
    shown = api_meeting(cli, meeting_id)
    assert shown["all_day"] is True and shown["end"].startswith("2026-12-15T00:00:00")
