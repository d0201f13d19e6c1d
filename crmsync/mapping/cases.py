"""Email-to-case decisions: case tokens, which case a mail joins, rules, first-response due.

Everything is decided from values handed in (the mail's text, the candidate cases the
store found, the rules, the clock and the calendar): the same mail gives the same
decision in a live sync, a resumed one and a test.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crmsync.mapping.dates import as_utc

__all__ = [
    "BusinessHours",
    "CaseCandidate",
    "RuleEntry",
    "ThreadDecision",
    "choose_case",
    "classify",
    "case_marker",
    "case_subject",
    "find_case_markers",
    "find_case_tokens",
    "first_response_due",
    "parse_business_hours",
]

#: ``[CASE-000042]`` in a subject or a body
_TOKEN = re.compile(r"\[(CASE-\d{6,12})\]")
#: the marker crmsync writes into the body of mails it sends; quoting keeps it
MARKER_FORMAT = "ref:{number}:crmsync"
_MARKER = re.compile(r"ref:(CASE-\d{6,12}):crmsync")
#: longest text searched for tokens and keywords (hostile input stays linear and bounded)
MAX_SCAN = 200_000
CLOSED_STATUSES = frozenset({"Closed", "Resolved"})


def case_token(number: str) -> str:
    return f"[{number}]"


def case_marker(number: str) -> str:
    """Return the body marker of case ``number``; see :func:`find_case_numbers`."""
    return MARKER_FORMAT.format(number=number)


def case_subject(subject: str, number: str) -> str:
    """Return ``subject`` carrying the case token once, on one line (no header injection)."""
    clean = " ".join(subject.split())
    token = case_token(number)
    return clean if token in clean else f"{clean} {token}".strip()


def find_case_tokens(text: str | None) -> list[str]:
    """Return the case numbers of ``[CASE-000042]`` tokens in ``text``, in order."""
    return list(dict.fromkeys(_TOKEN.findall((text or "")[:MAX_SCAN])))


def find_case_markers(text: str | None) -> list[str]:
    """Return the case numbers of crmsync body markers (:func:`case_marker`) in ``text``."""
    return list(dict.fromkeys(_MARKER.findall((text or "")[:MAX_SCAN])))


# -- threading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseCandidate:
    """A case the store found for a mail, and the evidence.

    :param via: ``token``, ``in-reply-to``, ``references``, ``marker`` or
        ``conversation``; :data:`EVIDENCE_ORDER` ranks them.
    """

    case_id: int
    number: str
    status: str
    via: str


EVIDENCE_ORDER = ("token", "in-reply-to", "references", "marker", "conversation")
_EVIDENCE_TEXT = {
    "token": "subject or body carries [{number}]",
    "in-reply-to": "reply to a mail on case {number}",
    "references": "references a mail on case {number}",
    "marker": "quotes a mail crmsync sent on case {number}",
    "conversation": "same conversation as case {number}",
}


@dataclass(frozen=True, slots=True)
class ThreadDecision:
    """Which case a mail belongs to.

    :param action: ``join`` (an open case), ``reopen`` (a closed case, reopened),
        ``follow_up`` (a closed case; open a new one that links back), or ``new``.
    :param case_id: the case joined or followed up, ``None`` for ``new``.
    :param reason: the link's reason, for people.
    """

    action: str
    case_id: int | None = None
    number: str = ""
    reason: str = ""


def choose_case(
    candidates: Iterable[CaseCandidate], *, reopen_closed: bool, may_reopen: bool = True
) -> ThreadDecision:
    """Pick the case a mail belongs to: the strongest evidence wins.

    Evidence ranks token, then In-Reply-To, then References, then a quoted marker,
    then the provider's conversation; among equals the newest case wins (a follow-up
    case is newer than the case it follows).

    :param reopen_closed: the organization reopens closed cases on a reply, else it
        opens a follow-up case.
    :param may_reopen: ``False`` for mail that must not reopen anything (an
        out-of-office on a closed case is filed on it, nothing more).
    """
    ranked = sorted(
        candidates, key=lambda c: (EVIDENCE_ORDER.index(c.via), -c.case_id)
    )
    if not ranked:
        return ThreadDecision("new")
    best = ranked[0]
    reason = _EVIDENCE_TEXT[best.via].format(number=best.number)
    if best.status not in CLOSED_STATUSES or not may_reopen:
        # An open case, or mail that only gets filed: it joins.
        return ThreadDecision("join", best.case_id, best.number, reason)
    if reopen_closed:
        return ThreadDecision("reopen", best.case_id, best.number, reason + " (reopened)")
    return ThreadDecision("follow_up", best.case_id, best.number, reason)


# -- classification -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """A keyword rule as the store holds it (see ``crm.support.CaseRule``)."""

    id: int
    name: str
    keywords: tuple[str, ...]
    category: str = ""
    priority: str = ""
    templates: tuple[str, ...] = ()
    sla_hours: float | None = None


def split_list(value: str | None) -> tuple[str, ...]:
    """Split a ``;``-separated list (also ``,`` and line breaks), dropping blanks."""
    parts = re.split(r"[;\n]", value or "")
    return tuple(part.strip() for part in parts if part.strip())


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Match ``keyword`` case-insensitively; whole words only where words have edges.

    Latin words need boundaries ("bill" must not match "billion"); Chinese and
    Japanese are written without spaces, so their keywords match anywhere.
    """
    escaped = re.escape(keyword.strip())
    if keyword[:1].isascii() and keyword[:1].isalnum():
        escaped = r"(?<![^\W_])" + escaped
    if keyword[-1:].isascii() and keyword[-1:].isalnum():
        escaped += r"(?![^\W_])"
    return re.compile(escaped, re.IGNORECASE)


def classify(subject: str, body: str | None, rules: Sequence[RuleEntry]) -> RuleEntry | None:
    """Return the first rule (in the given order) with a keyword in the subject or body."""
    text = f"{subject}\n{(body or '')[:MAX_SCAN]}"
    for rule in rules:
        if any(keyword_pattern(k).search(text) for k in rule.keywords if k.strip()):
            return rule
    return None


#: see _holiday_rule
NO_HOLIDAY_DAYS = 6 * 365


# -- first-response due ---------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessHours:
    """Working time for SLA clocks: days (Monday = 0), daily hours, zone, holidays."""

    start: time = time(9)
    end: time = time(17)
    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    zone: str = "UTC"
    #: a ``holidays`` country code (``ES``, ``US-CA``, ``CN``) or ""
    country: str = ""
    extra_holidays: tuple[date, ...] = field(default=())


_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def parse_business_hours(spec: str, holiday_spec: str = "") -> BusinessHours | None:
    """Parse ``"Mon-Fri 09:00-17:00 Europe/Madrid"`` and ``"ES;2026-12-24"``.

    :returns: ``None`` for an empty spec (the clock runs around the clock).
    :raises ValueError: with a message a person can act on.
    """
    if not spec.strip():
        return None
    parts = spec.split()
    if len(parts) not in (2, 3):
        raise ValueError(f"business hours {spec!r}: expected 'Mon-Fri 09:00-17:00 [Zone]'")
    days, hours = _parse_days(parts[0]), _HOURS.match(parts[1])
    if hours is None:
        raise ValueError(f"business hours {spec!r}: hours must look like 09:00-17:00")
    h1, m1, h2, m2 = (int(g) for g in hours.groups())
    zone = parts[2] if len(parts) == 3 else "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"business hours {spec!r}: unknown time zone {zone}") from exc
    country, extra = _parse_holidays(holiday_spec)
    return BusinessHours(time(h1, m1), time(h2, m2), days, zone, country, extra)


def _parse_days(text: str) -> tuple[int, ...]:
    first, _, last = text.lower().partition("-")
    if first[:3] not in _DAYS or (last and last[:3] not in _DAYS):
        raise ValueError(f"business days {text!r}: expected e.g. Mon-Fri")
    start, stop = _DAYS[first[:3]], _DAYS[(last or first)[:3]]
    return tuple((start + i) % 7 for i in range((stop - start) % 7 + 1))


def _parse_holidays(spec: str) -> tuple[str, tuple[date, ...]]:
    country, dates = "", []
    for part in split_list(spec.replace(",", ";")):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", part):
            dates.append(date.fromisoformat(part))
        elif country:
            raise ValueError(f"holidays {spec!r}: one country code at most")
        else:
            country = part
    if country:
        import holidays  # see first_response_due

        code, _, subdivision = country.partition("-")
        # Checks the code only; the years are those the spec names, never today's (no
        # clock here): first_response_due loads the years of each case it is asked about.
        years = sorted({day.year for day in dates})
        try:
            holidays.country_holidays(code, subdiv=subdivision or None, years=years)
        except NotImplementedError as exc:
            raise ValueError(f"holidays: unknown country code {country!r}") from exc
    return country, tuple(dates)


def first_response_due(
    received: datetime, hours: float, calendar: BusinessHours | None = None
) -> datetime:
    """Return when the first response is due: ``hours`` after ``received``.

    With a calendar, only working time counts (nights, weekends and holidays pause
    the clock), as in Salesforce entitlements and Zendesk business-hour SLAs.
    """
    received = as_utc(received)
    if calendar is None:
        return received + timedelta(hours=hours)
    # imported here, not at start-up: together 50-100 ms of every sync's start
    import businesstimedelta
    import holidays
    import pytz

    zone = pytz.timezone(calendar.zone)
    years = range(received.year, received.year + 3)
    code, _, subdivision = calendar.country.partition("-")
    days = holidays.country_holidays(code, subdiv=subdivision or None, years=years) \
        if code else holidays.HolidayBase()
    days.update({day: "holiday" for day in calendar.extra_holidays})
    rules = businesstimedelta.Rules([
        businesstimedelta.WorkDayRule(
            start_time=calendar.start, end_time=calendar.end,
            working_days=list(calendar.days), tz=zone,
        ),
        _holiday_rule(businesstimedelta, days, zone),
    ])
    due = received + businesstimedelta.BusinessTimeDelta(rules, timedelta=timedelta(hours=hours))
    return as_utc(due)


def _holiday_rule(businesstimedelta: Any, days: Any, zone: Any) -> Any:
    """businesstimedelta's ``HolidayRule`` for ``days`` (the years loaded), looked up by
    bisection, and safe when no holiday lies ahead.

    Its own ``next_holiday`` tests one day after another for five years, and its ``next``
    raises ``TypeError`` (``combine(None, ...)``) when that finds none: always without
    holidays, and past the last of a list of dates. Here "none" is a day off six years
    away, which no working-time sum ever reaches; the search is a bisection of the sorted
    dates (a follow-up check computes thousands of due times).
    """
    ordered = sorted(days)

    class HolidayRule(businesstimedelta.HolidayRule):
        def next_holiday(self, day: date, reverse: bool = False, max_days: int = 0) -> date | None:
            if reverse:
                index = bisect.bisect_right(ordered, day) - 1
                return ordered[index] if index >= 0 else None
            index = bisect.bisect_left(ordered, day)
            return ordered[index] if index < len(ordered) else None

        def next(self, dt: datetime, reverse: bool = False) -> tuple[datetime, datetime]:
            local = dt.astimezone(self.tz).date() if dt.tzinfo else dt.date()
            if self.next_holiday(local, reverse=reverse) is not None:
                return super().next(dt, reverse=reverse)
            far = dt + timedelta(days=-NO_HOLIDAY_DAYS if reverse else NO_HOLIDAY_DAYS)
            return (far - timedelta(days=1), far) if reverse else (far, far + timedelta(days=1))

    return HolidayRule(days, tz=zone)
