"""Meetings: real .ics files, series with exceptions, Windows zones, iTIP mail, the feed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import select

from crmsync.crm.meetings import MeetingOccurrence, MeetingSeries
from crmsync.mapping.calendar import CalendarError, expand_occurrences, parse_calendar
from crmsync.mapping.timezones import UnknownZoneError, resolve_zone
from crmsync.sync_service.web.app import create_app
from tests.conftest import Cli, load_sample_crm

DATA = Path(__file__).resolve().parent.parent / "data" / "calendar"
ICS = sorted(DATA.glob("*.ics"))


@pytest.mark.parametrize("path", ICS, ids=[p.name for p in ICS])
def test_real_calendars_give_the_events_icalendar_gives(path: Path) -> None:
    # Every vendored calendar parses, and each meeting starts when icalendar says it does.
    meetings, problems = parse_calendar(path.read_bytes())
    assert problems == []
    expected = {}
    for event in icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT"):
        if event.get("RECURRENCE-ID") is None:
            start = event.decoded("DTSTART")
            start = start if isinstance(start, datetime) else datetime(
                start.year, start.month, start.day, tzinfo=UTC)
            expected[str(event["UID"])] = start.astimezone(UTC)
    assert {m.uid: m.starts_at for m in meetings} == expected


def test_moved_and_cancelled_occurrences_are_right() -> None:
    # The series expands to its occurrences; the moved one appears once, at its new time.
    [meeting], _ = parse_calendar((DATA / "event_daily_rrule_overridden.ics").read_bytes())
    assert meeting.rrule and len(meeting.overrides) == 1
    occurrences = expand_occurrences(
        meeting.ical, datetime(2006, 1, 1, tzinfo=UTC), datetime(2006, 1, 10, tzinfo=UTC))
    assert len(occurrences) == 5
    moved = [o for o in occurrences if o.starts_at != o.recurrence_id]
    assert [(o.recurrence_id.hour, o.starts_at.hour) for o in moved] == [(17, 19)]
    cancelled = meeting.ical.replace("SUMMARY:event_daily_rrule_overridden\r\nEND", "END")
    cancelled = cancelled.replace(
        "RECURRENCE-ID;TZID=US/Eastern:20060104T120000",
        "RECURRENCE-ID;TZID=US/Eastern:20060104T120000\r\nSTATUS:CANCELLED")
    assert len(expand_occurrences(cancelled, datetime(2006, 1, 1, tzinfo=UTC),
                                  datetime(2006, 1, 10, tzinfo=UTC))) == 4


@pytest.mark.parametrize(("name", "zone"), [
    ("Tokyo Standard Time", "Asia/Tokyo"), ("W. Europe Standard Time", "Europe/Berlin"),
    ("Europe/Berlin", "Europe/Berlin"), ("Pacific Standard Time", "America/Los_Angeles"),
])
def test_windows_and_iana_zone_names_resolve(name: str, zone: str) -> None:
    # Outlook's Windows names and IANA names land on the same zone.
    assert resolve_zone(name).key == zone


@pytest.mark.parametrize("name", ["tzone://Microsoft/Custom", "Mars/Olympus", "", "../etc"])
def test_unknown_zones_are_refused_not_guessed(name: str) -> None:
    # An unknown zone is an error for a person to look at, never a guess.
    with pytest.raises(UnknownZoneError):
        resolve_zone(name)


def test_an_unknown_zone_in_a_calendar_is_a_problem_not_a_guess() -> None:
    # The meeting with an unresolvable TZID is reported; the others in the file still load.
    text = (DATA / "event7.ics").read_bytes().replace(b"TZID=", b"TZID=Mars/Olympus-", 1)
    meetings, problems = parse_calendar(text)
    assert problems and "unknown time zone" in problems[0][1]
    with pytest.raises(CalendarError):
        parse_calendar(b"this is not a calendar")


def _invite(path: Path, uid: str, method: str = "REQUEST", extra: str = "") -> Path:
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:" + method + "\r\n"
        "BEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20260301T000000Z\r\n"
        'DTSTART;TZID="Tokyo Standard Time":20260302T100000\r\n'
        'DTEND;TZID="Tokyo Standard Time":20260302T110000\r\n'
        "RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Fleet review\r\n" + extra +
        "ORGANIZER;CN=Maria:mailto:maria.lopez@northwind.example\r\n"
        "ATTENDEE;CN=Ana;PARTSTAT=NEEDS-ACTION:mailto:ana.ruiz@acme.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
    return path


def test_calendar_import_links_meetings_like_mail_and_is_idempotent(
    cli: Cli, tmp_path: Path
) -> None:
    # An imported series is one meeting activity, at the right UTC instant, linked to Ana.
    load_sample_crm(cli)
    path = _invite(tmp_path / "review.ics", "series-1")
    cli("calendar", "import", str(path))
    cli("calendar", "import", str(path))
    [meeting] = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    assert meeting["occurred_at"] == "2026-03-02T01:00:00Z"
    assert meeting["ical_uid"] == "series-1"
    links = {(x["type"], x["external_id"]) for x in meeting["links"]}
    assert {("contact", "c-1"), ("account", "acc-acme"), ("opportunity", "opp-1")} <= links
    with cli.session() as session:
        series = session.scalars(select(MeetingSeries)).one()
        assert series.rrule == "FREQ=WEEKLY;COUNT=4"
        assert len(expand_occurrences(series.ical, datetime(2026, 3, 1, tzinfo=UTC),
                                      datetime(2026, 4, 30, tzinfo=UTC))) == 4


def test_itip_request_and_cancel_in_mail(cli: Cli, tmp_path: Path) -> None:
    # An invitation mailed by a customer becomes a meeting; a later CANCEL of one occurrence
    # marks just that occurrence.
    load_sample_crm(cli)
    ics = _invite(tmp_path / "i.ics", "mail-series").read_bytes().decode()
    cancel = ics.replace("METHOD:REQUEST", "METHOD:CANCEL").replace(
        "RRULE:FREQ=WEEKLY;COUNT=4\r\n", "RECURRENCE-ID;TZID=\"Tokyo Standard Time\":"
        "20260309T100000\r\nSEQUENCE:1\r\n")
    for name, body, method in (("req", ics, "REQUEST"), ("can", cancel, "CANCEL")):
        (tmp_path / f"{name}.eml").write_text(
            f"Message-ID: <{name}@acme.example>\nFrom: ana.ruiz@acme.example\n"
            f"To: maria.lopez@northwind.example\nSubject: Invitation\n"
            f"Date: Mon, 2 Mar 2026 10:00:00 +0000\nMIME-Version: 1.0\n"
            f"Content-Type: text/calendar; method={method}; charset=utf-8\n\n{body}")
        cli("mail", "import", str(tmp_path / f"{name}.eml"))
    kinds = sorted(a["kind"] for a in cli.export_activities())
    assert kinds == ["email", "email", "meeting"]
    with cli.session() as session:
        [occurrence] = session.scalars(select(MeetingOccurrence)).all()
    assert occurrence.status == "cancelled"


def test_real_itip_mail_from_thunderbird_is_read(cli: Cli) -> None:
    # Thunderbird's repeating-event invitation imports without errors.
    load_sample_crm(cli)
    out = cli("mail", "import", str(DATA / "repeat-event.eml"), str(DATA / "exception-major.eml"))
    assert "quarantined" not in out.output


def test_feed_serves_a_users_meetings(cli: Cli, tmp_path: Path) -> None:
    # A rep subscribes to their meetings with a secret URL; an unknown token gets 404.
    load_sample_crm(cli)
    cli("calendar", "import", str(_invite(tmp_path / "r.ics", "feed-series")))
    url = cli("calendar", "feed-token", "maria.lopez@northwind.example").output.strip()
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                      "SECRET_KEY": "test-key"})
    try:
        client = app.test_client()
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "text/calendar"
        assert [str(e["UID"]) for e in icalendar.Calendar.from_ical(
            response.data).walk("VEVENT")] == ["feed-series"]
        assert client.get("/feeds/not-a-token.ics").status_code == 404
    finally:
        app.extensions["crmsync"].dispose()


# A weekly Thursday meeting in Berlin across the EU switch to summer time (29 March 2026),
# with the 2 April occurrence moved to a New York afternoon (already on summer time).
DST_SERIES = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:dst-series\r\n"
    "DTSTAMP:20260301T000000Z\r\n"
    'DTSTART;TZID="W. Europe Standard Time":20260319T100000\r\n'
    'DTEND;TZID="W. Europe Standard Time":20260319T110000\r\n'
    "RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Weekly sync\r\n"
    "ORGANIZER:mailto:maria.lopez@northwind.example\r\n"
    "ATTENDEE:mailto:ana.ruiz@acme.example\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:dst-series\r\nDTSTAMP:20260301T000000Z\r\n"
    'RECURRENCE-ID;TZID="W. Europe Standard Time":20260402T100000\r\n'
    "DTSTART;TZID=America/New_York:20260402T170000\r\n"
    "DTEND;TZID=America/New_York:20260402T180000\r\nSUMMARY:Weekly sync (moved)\r\n"
    "ORGANIZER:mailto:maria.lopez@northwind.example\r\n"
    "ATTENDEE:mailto:ana.ruiz@acme.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_weekly_series_across_dst_and_a_moved_occurrence_in_another_zone() -> None:
    # Berlin 10:00 is 09:00 UTC before the switch and 08:00 UTC after it; the moved
    # occurrence (New York 17:00 EDT) lands at 21:00 UTC, replacing its Berlin slot.
    [meeting], problems = parse_calendar(DST_SERIES.encode())
    assert problems == [] and meeting.starts_at == _utc(2026, 3, 19, 9)
    [moved] = meeting.overrides
    assert (moved.recurrence_id, moved.starts_at) == (_utc(2026, 4, 2, 8), _utc(2026, 4, 2, 21))
    occurrences = expand_occurrences(meeting.ical, _utc(2026, 3, 1), _utc(2026, 5, 1))
    assert [(o.recurrence_id, o.starts_at) for o in occurrences] == [
        (_utc(2026, 3, 19, 9), _utc(2026, 3, 19, 9)),
        (_utc(2026, 3, 26, 9), _utc(2026, 3, 26, 9)),
        (_utc(2026, 4, 2, 8), _utc(2026, 4, 2, 21)),
        (_utc(2026, 4, 9, 8), _utc(2026, 4, 9, 8)),
    ]
    assert occurrences[2].ends_at == _utc(2026, 4, 2, 22)


def test_reimporting_a_calendar_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    # Importing the same file again reports no change and leaves every row as it was.
    load_sample_crm(cli)
    path = tmp_path / "dst.ics"
    path.write_text(DST_SERIES, newline="")
    first = cli("calendar", "import", str(path)).output
    assert "1 meetings_captured" in first

    def snapshot() -> list[tuple]:
        with cli.session() as session:
            return [(o.id, o.recurrence_id, o.starts_at, o.status)
                    for o in session.scalars(select(MeetingOccurrence))]

    before, activities = snapshot(), cli.export_activities()
    assert cli("calendar", "import", str(path)).output.strip() == "dst.ics: 1 meetings_unchanged"
    assert snapshot() == before and cli.export_activities() == activities
