"""The CalDAV connector against a real Radicale: events, series, all-day, deletions, and
changes found by RFC 6578 sync tokens or, without them, by ETags."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crmsync.connectors.base import CalendarEvent, Deletion, Unreadable
from crmsync.connectors.ical_events import occurrence_uid, stamp
from crmsync.connectors.registry import load_connector_class
from tests.contract.handles import drain
from tests.dav.accounts import MKCALENDAR, DavAccount
from tests.ews.calendars import calendar, moved_series, people, single
from tests.ews.helpers import ANA, MARIA

BERLIN = ZoneInfo("Europe/Berlin")


def connector(account: DavAccount, **settings: object):
    """A connector built as the engine builds it (registry, from_settings)."""
    cls = load_connector_class("caldav")
    return cls.from_settings({"url": account.user.principal_url,
                              "username": account.user.username, "contacts": False,
                              **settings}, account.user.password)


def events(changes: list) -> list[CalendarEvent]:
    return [c for c in changes if isinstance(c, CalendarEvent)]


def soon(days: int = 2) -> datetime:
    return datetime.now(UTC).replace(hour=14, minute=0, second=0, microsecond=0) + \
        timedelta(days=days)


def all_day(uid: str, day: date) -> str:
    return (f"BEGIN:VEVENT\nUID:{uid}\nSUMMARY:Trade fair\nDTSTART;VALUE=DATE:"
            f"{day:%Y%m%d}\nDTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}\n"
            f"DTSTAMP:20260101T000000Z\nEND:VEVENT\n")


@pytest.mark.parametrize("sync_tokens", [True, False], ids=["sync-token", "etags"])
def test_series_single_and_all_day_events_then_changes_and_deletions(
        account: DavAccount, sync_tokens: bool) -> None:
    # A weekly series in Berlin time (Windows zone name, as Outlook writes it) with a moved
    # and a cancelled occurrence, a single meeting and an all-day event come as Exchange's
    # connector gives them; shortening the series and deleting the meeting are Deletions;
    # an unchanged calendar gives nothing.
    who = people(MARIA, (ANA,))
    scenario = moved_series(who)
    monday, slots, moved, series = scenario.monday, scenario.slots, scenario.moved, scenario.ical

    series_href = account.put_event(series(4))
    qbr_href = account.put_event(calendar(single("qbr-1", "Acme QBR", soon(), who=who)))
    fair_day = monday + timedelta(days=3)
    account.put_event(calendar(all_day("fair-1", fair_day)))
    dav = connector(account, sync_tokens=sync_tokens)
    first = drain(dav)
    got = {e.ical_uid: e for e in events(first.changes)}
    slot = [stamp(s.replace(tzinfo=BERLIN)) for s in slots]
    assert set(got) == {"qbr-1", "fair-1", occurrence_uid("weekly-1", slot[0]),
                        occurrence_uid("weekly-1", slot[1]), occurrence_uid("weekly-1", slot[3])}
    exception = got[occurrence_uid("weekly-1", slot[1])]
    assert exception.event_type == "exception" and exception.series_id == series_href
    assert exception.start == moved.replace(tzinfo=BERLIN).astimezone(UTC)
    assert exception.item_id == f"{series_href}#{slot[1]}"
    assert {p.address for p in exception.attendees} == {ANA[1]}
    assert got["qbr-1"].item_id == qbr_href and got["qbr-1"].organizer.address == MARIA[1]
    fair = got["fair-1"]
    assert fair.is_all_day and fair.start == datetime.combine(fair_day, datetime.min.time(), UTC)
    token = json.loads(first.cursors["calendar"])["dav"]
    assert ("token" in token) is sync_tokens

    assert events(drain(dav, first.cursors).changes) == []

    account.put_event(series(2), name=series_href.rsplit("/", 1)[1])
    account.delete(qbr_href)
    second = drain(dav, first.cursors)
    deleted = {c.item_id for c in second.changes if isinstance(c, Deletion)}
    assert deleted == {qbr_href, f"{series_href}#{slot[3]}"}
    assert {e.ical_uid for e in events(second.changes)} == {
        occurrence_uid("weekly-1", slot[0]), occurrence_uid("weekly-1", slot[1])}


def test_a_refused_sync_token_lists_the_calendar_again_marked_resync(
        account: DavAccount) -> None:
    # A token the server no longer knows (RFC 6578 valid-sync-token) starts over: every
    # event again, on a page marked resync, and a meeting deleted meanwhile is deleted.
    keep = account.put_event(calendar(single("keep-1", "Kept", soon(), who="")))
    gone = account.put_event(calendar(single("gone-1", "Gone", soon(3), who="")))
    dav = connector(account)
    first = drain(dav)
    account.delete(gone)
    saved = json.loads(first.cursors["calendar"])
    saved["dav"]["token"] = "http://radicale.org/ns/sync/" + "0" * 64
    again = drain(dav, {"calendar": json.dumps(saved)})
    assert again.pages[0].resync
    assert [e.item_id for e in events(again.changes)] == [keep]
    assert [c.item_id for c in again.changes if isinstance(c, Deletion)] == [gone]


def test_an_event_in_a_zone_nobody_defines_is_unreadable_not_guessed(
        account: DavAccount) -> None:
    # A TZID that is neither a VTIMEZONE of the item nor a known name is quarantined.
    href = account.put_event(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t\r\nBEGIN:VEVENT\r\nUID:odd-1\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Mars/Olympus:20261210T100000\r\n"
        "DTEND;TZID=Mars/Olympus:20261210T110000\r\nSUMMARY:Odd\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n")
    [unreadable] = [c for c in drain(connector(account)).changes if isinstance(c, Unreadable)]
    assert unreadable.item_id == href and "Mars/Olympus" in unreadable.reason


def test_a_calendar_gone_from_its_url_is_looked_up_again(account: DavAccount) -> None:
    # The calendar the cursor names is deleted and another is the account's now: it is
    # listed whole (resync), and the old calendar's meetings are deleted from this one.
    old = account.put_event(calendar(single("old-1", "Old", soon(), who="")))
    dav = connector(account)
    first = drain(dav)
    account.request("DELETE", "work/")
    account.request("MKCALENDAR", "home/", MKCALENDAR.format(name="Home"))
    account.request("PUT", "home/new.ics", calendar(single("new-1", "New", soon(), who="")),
                    {"Content-Type": "text/calendar"})
    again = drain(dav, first.cursors)
    assert again.pages[0].resync
    assert [e.ical_uid for e in events(again.changes)] == ["new-1"]
    assert [c.item_id for c in again.changes if isinstance(c, Deletion)] == [old]
    assert json.loads(again.cursors["calendar"])["collection"].endswith("/home/")


@pytest.mark.parametrize("tzid", ["Europe/Berlin", "W. Europe Standard Time"])
def test_a_zone_named_without_its_vtimezone_is_resolved(account: DavAccount, tzid: str) -> None:
    # Apps write IANA names, Outlook exports Windows names, often without a VTIMEZONE:
    # both are the same Berlin wall-clock time, 10:00 in December = 09:00 UTC.
    account.put_event(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t\r\nBEGIN:VEVENT\r\nUID:tz-1\r\n"
        f"DTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tzid}:20261210T100000\r\n"
        f"DTEND;TZID={tzid}:20261210T110000\r\nSUMMARY:Zoned\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n")
    dav = connector(account, window_days=(400, 400))
    [event] = events(drain(dav).changes)
    assert event.start == datetime(2026, 12, 10, 9, tzinfo=UTC)
