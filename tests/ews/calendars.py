"""Calendar items as Exchange's MimeContent holds them: iCalendar with the item's VTIMEZONE.

Exchange writes Windows zone names as TZIDs and defines each in a VTIMEZONE of the item
(as in the Exchange samples kept in ``tests/data/ews/calendar/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

#: Exchange's definition of Central European time (as in its MimeContent)
BERLIN = """BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""
ZONE = "W. Europe Standard Time"


def local(moment: datetime) -> str:
    """A wall-clock time as an iCalendar local DATE-TIME value."""
    return moment.strftime("%Y%m%dT%H%M%S")


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def people(organizer: tuple[str, str], attendees: tuple[tuple[str, str], ...]) -> str:
    lines = [f"ORGANIZER;CN={organizer[0]}:mailto:{organizer[1]}"]
    lines += [f"ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE;CN={name}:"
              f"mailto:{address}" for name, address in attendees]
    return "\n".join(lines)


def calendar(*events: str, zones: str = BERLIN) -> str:
    body = "".join(events)
    return ("BEGIN:VCALENDAR\nMETHOD:PUBLISH\nPRODID:Microsoft Exchange Server 2010\n"
            f"VERSION:2.0\n{zones}{body}END:VCALENDAR\n").replace("\n", "\r\n")


def single(uid: str, subject: str, start: datetime, minutes: int = 60, who: str = "",
           klass: str = "PUBLIC") -> str:
    """One appointment in UTC."""
    end = start + timedelta(minutes=minutes)
    return (f"BEGIN:VEVENT\nUID:{uid}\nSUMMARY;LANGUAGE=en-US:{subject}\n"
            f"DTSTART:{utc_stamp(start)}\nDTEND:{utc_stamp(end)}\n{who}\n"
            f"CLASS:{klass}\nSTATUS:CONFIRMED\nLOCATION:Teams\n"
            f"DTSTAMP:{utc_stamp(start)}\nEND:VEVENT\n").replace("\n\n", "\n")


def weekly(uid: str, subject: str, first: datetime, count: int, who: str = "",
           exdates: tuple[datetime, ...] = (), moved: tuple[tuple[datetime, datetime], ...] = ()
           ) -> str:
    """A weekly series at a Berlin wall-clock time: EXDATEs cancel occurrences, ``moved``
    holds (original local start, new local start) exceptions."""
    ex = "".join(f"EXDATE;TZID={ZONE}:{local(d)}\n" for d in exdates)
    master = (f"BEGIN:VEVENT\nUID:{uid}\nSUMMARY:{subject}\n"
              f"DTSTART;TZID={ZONE}:{local(first)}\n"
              f"DTEND;TZID={ZONE}:{local(first + timedelta(hours=1))}\n"
              f"RRULE:FREQ=WEEKLY;COUNT={count}\n{ex}{who}\nCLASS:PUBLIC\n"
              f"DTSTAMP:20260101T000000Z\nEND:VEVENT\n").replace("\n\n", "\n")
    exceptions = "".join(
        f"BEGIN:VEVENT\nUID:{uid}\nRECURRENCE-ID;TZID={ZONE}:{local(original)}\n"
        f"SUMMARY:{subject}\nDTSTART;TZID={ZONE}:{local(new)}\n"
        f"DTEND;TZID={ZONE}:{local(new + timedelta(hours=1))}\n{who}\n"
        "DTSTAMP:20260101T000000Z\nEND:VEVENT\n".replace("\n\n", "\n")
        for original, new in moved)
    return master + exceptions


def next_monday(today: date, weeks: int = 1) -> date:
    return today + timedelta(days=7 * weeks - today.weekday())


@dataclass(frozen=True)
class MovedSeries:
    """Four weekly slots, Mondays 10:00 Berlin time from next Monday, the second moved to
    the Tuesday at 14:00 and the third cancelled: the series Outlook users make most.

    ``ical(count)`` is the series with its first ``count`` occurrences (shortening it
    removes the later ones from the calendar).
    """

    monday: date
    slots: list[datetime]
    moved: datetime
    who: str

    def ical(self, count: int) -> str:
        return calendar(weekly("weekly-1", "Acme weekly", self.slots[0], count, who=self.who,
                               exdates=(self.slots[2],), moved=((self.slots[1], self.moved),)))


def moved_series(who: str) -> MovedSeries:
    """The :class:`MovedSeries` starting next Monday, with ``who`` (from :func:`people`)."""
    monday = next_monday(date.today())
    slots = [datetime.combine(monday + timedelta(weeks=k), datetime.min.time()).replace(hour=10)
             for k in range(4)]
    return MovedSeries(monday, slots, slots[1] + timedelta(days=1, hours=4), who)
