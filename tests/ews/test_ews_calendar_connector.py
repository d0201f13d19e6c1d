"""The EWS calendar and contacts resources at the connector: records, ids and cursors,
against the Exchange double driven by the real exchangelib."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from crmsync.connectors.base import CalendarEvent, ContactCard, Deletion, Page, Unreadable
from crmsync.connectors.ews import EwsConnector
from crmsync.connectors.ews.settings import EwsSettings
from tests.ews.calendars import calendar, people, single, weekly
from tests.ews.helpers import ANA, PASSWORD
from tests.fakes.ews_fixtures import unique_address
from tests.fakes.ews_server import EwsDouble

DATA = Path(__file__).parent.parent / "data" / "ews" / "calendar"
TODAY = date(2026, 10, 12)


def connect(ews: EwsDouble, today: date = TODAY) -> tuple[str, EwsConnector]:
    address = unique_address()
    ews.add_user(address, PASSWORD)
    settings = EwsSettings(url=ews.url, username=address, address=address, auth="basic")
    return address, EwsConnector(settings, PASSWORD, today=lambda: today)


def drain(connector: EwsConnector, resource: str, cursor: str | None
          ) -> tuple[list, str, list[Page]]:
    pages = list(connector.fetch_changes(resource, cursor))
    return [c for p in pages for c in p.changes], pages[-1].cursor, pages


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_series_expands_in_the_items_own_time_zone_with_exception_and_exdate(
        ews: EwsDouble) -> None:
    # A weekly 10:00 Berlin series across the end of summer time: one occurrence moved,
    # one cancelled; each occurrence is its own record keyed by its original slot.
    address, connector = connect(ews)
    first = datetime(2026, 10, 19, 10, 0)
    ics = calendar(weekly("series-1", "Weekly sync", first, 4,
                          who=people(("Maria", "maria@contoso.com"), (ANA,)),
                          exdates=(datetime(2026, 11, 2, 10, 0),),
                          moved=((datetime(2026, 10, 26, 10, 0), datetime(2026, 10, 27, 14, 0)),)))
    master = ews.mailbox(address).add_calendar_item(ics)
    with connector:
        changes, _, _ = drain(connector, "calendar", None)
    assert all(isinstance(c, CalendarEvent) for c in changes)
    assert [(c.event_type, c.start, c.original_start) for c in changes] == [
        ("occurrence", at(2026, 10, 19, 8), at(2026, 10, 19, 8)),
        ("exception", at(2026, 10, 27, 13), at(2026, 10, 26, 9)),
        ("occurrence", at(2026, 11, 9, 9), at(2026, 11, 9, 9)),
    ]
    assert {c.series_id for c in changes} == {master}
    assert changes[1].ical_uid == "series-1;RECURRENCE-ID=20261026T090000Z"
    assert changes[0].attendees[0].address == ANA[1]
    assert changes[0].attendees[0].response == "accepted"


def test_exchange_sample_item_is_read_in_its_vtimezone(ews: EwsDouble) -> None:
    # Exchange 2010's own iCalendar (Pacific Standard Time, defined in the item).
    address, connector = connect(ews, today=date(2017, 2, 20))
    ews.mailbox(address).add_calendar_item((DATA / "exchange-2010-pacific.ics").read_bytes())
    with connector:
        [event], _, _ = drain(connector, "calendar", None)
    assert event.subject == "Test 4" and event.event_type == "singleInstance"
    assert (event.start, event.end) == (at(2017, 2, 24, 20), at(2017, 2, 24, 20, 30))
    assert event.ical_uid == ("040000008200E00074C5B7101A82E008"
                              "0000000090E19664858ED20100000000000000")


def test_unknown_time_zone_is_unreadable_and_the_rest_goes_on(ews: EwsDouble) -> None:
    # A TZID defined nowhere is never guessed: that item is quarantined, the others come.
    address, connector = connect(ews)
    box = ews.mailbox(address)
    bad = calendar(single("odd", "Odd zone", at(2026, 10, 20, 9)).replace(
        "DTSTART:20261020T090000Z", "DTSTART;TZID=Atlantis Standard Time:20261020T090000"))
    box.add_calendar_item(bad)
    box.add_calendar_item(calendar(single("fine", "Fine", at(2026, 10, 21, 9))))
    with connector:
        changes, _, _ = drain(connector, "calendar", None)
    [unreadable] = [c for c in changes if isinstance(c, Unreadable)]
    assert "Atlantis Standard Time" in unreadable.reason
    assert [c.subject for c in changes if isinstance(c, CalendarEvent)] == ["Fine"]


def test_shortened_and_deleted_series_delete_their_occurrences(ews: EwsDouble) -> None:
    # Exchange says only "changed" or "deleted": the cursor knows which occurrences went.
    address, connector = connect(ews)
    box = ews.mailbox(address)
    first = datetime(2026, 10, 19, 10, 0)
    master = box.add_calendar_item(calendar(weekly("s2", "Standup", first, 4)))
    with connector:
        changes, cursor, _ = drain(connector, "calendar", None)
        ids = [c.item_id for c in changes]
        box.update_calendar_item(master, calendar(weekly("s2", "Standup", first, 2)))
        changes, cursor, _ = drain(connector, "calendar", cursor)
        assert sorted(c.item_id for c in changes if isinstance(c, Deletion)) == sorted(ids[2:])
        box.delete_item(master)
        changes, cursor, _ = drain(connector, "calendar", cursor)
    assert sorted(c.item_id for c in changes) == sorted(ids[:2])
    assert all(isinstance(c, Deletion) for c in changes)


def test_window_drift_starts_a_new_round_and_drops_what_was_deleted_meanwhile(
        ews: EwsDouble) -> None:
    # Three weeks later the window moves: a resync round; a meeting deleted in between
    # loses its record, one left behind the window is kept.
    address, connector = connect(ews)
    box = ews.mailbox(address)
    past = box.add_calendar_item(calendar(single("p", "Past", at(2026, 10, 13, 9))))
    gone = box.add_calendar_item(calendar(single("g", "Gone", at(2026, 12, 1, 9))))
    with connector:
        _, cursor, _ = drain(connector, "calendar", None)
    box.delete_item(gone)
    later = EwsConnector(connector.settings, PASSWORD, today=lambda: date(2026, 12, 1))
    with later:
        changes, _, pages = drain(later, "calendar", cursor)
    assert pages[0].resync
    assert [c.item_id for c in changes if isinstance(c, Deletion)] == [gone]
    assert past not in [c.item_id for c in changes]


def test_contacts_keep_smtp_addresses_and_deletes_come_through(ews: EwsDouble) -> None:
    # An internal user's EX address is no address for the CRM; a delete is a Deletion.
    address, connector = connect(ews)
    box = ews.mailbox(address)
    lena = box.add_contact(display_name="Lena Vogel", given_name="Lena", surname="Vogel",
                           company_name="Acme", job_title="Buyer",
                           emails=["Lena.Vogel@acme.example",
                                   "/o=Contoso/ou=Exchange Administrative Group/cn=Recipients/"
                                   "cn=lena"],
                           phones=["+49 30 1234"])
    with connector:
        changes, cursor, _ = drain(connector, "contacts", None)
        assert changes == [ContactCard(
            item_id=lena, folder="contacts", display_name="Lena Vogel",
            emails=("lena.vogel@acme.example",), given_name="Lena", surname="Vogel",
            company="Acme", job_title="Buyer", phones=("+49 30 1234",))]
        box.delete_item(lena)
        changes, _, _ = drain(connector, "contacts", cursor)
    assert changes == [Deletion(item_id=lena, folder="contacts")]



def test_refused_sync_state_relists_the_folder_and_drops_what_was_deleted_meanwhile(
        ews: EwsDouble) -> None:
    # Exchange refuses the stored state: the folder is listed again (resync), nothing is
    # emitted twice as new, and the series deleted in between loses its occurrences.
    address, connector = connect(ews)
    box = ews.mailbox(address)
    kept = box.add_calendar_item(calendar(single("k", "Kept", at(2026, 10, 20, 9))))
    series = box.add_calendar_item(calendar(weekly("s3", "Series", datetime(2026, 10, 19, 10),
                                                   2)))
    with connector:
        first, cursor, _ = drain(connector, "calendar", None)
        box.delete_item(series)
        box.invalidate_sync_states("calendar")
        changes, _, pages = drain(connector, "calendar", cursor)
    assert pages[0].resync
    occurrences = sorted(c.item_id for c in first if c.item_id != kept)
    assert sorted(c.item_id for c in changes if isinstance(c, Deletion)) == occurrences
    assert [c.item_id for c in changes if isinstance(c, CalendarEvent)] == [kept]
