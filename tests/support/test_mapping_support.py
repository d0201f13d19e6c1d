"""Pure email-to-case decisions: sender kinds, threading, keywords, SLA calendars, new text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmsync.mapping.cases import (
    CaseCandidate,
    RuleEntry,
    choose_case,
    classify,
    first_response_due,
    parse_business_hours,
)
from crmsync.mapping.loops import (
    AckLimits,
    SenderKind,
    ack_refusal,
    classify_sender,
    stale_refusal,
)
from crmsync.mapping.reply_text import new_text

CORPORA = Path(__file__).resolve().parent.parent / "data" / "replies"


def _internal(address: str) -> bool:
    return address.endswith("@northwind.example")


@pytest.mark.parametrize(("headers", "kind"), [
    ({"from": "ana@acme.example"}, "human"),
    ({"from": "ana@acme.example", "auto-submitted": "no"}, "human"),
    ({"from": "ana@acme.example", "auto-submitted": "auto-replied"}, "auto-reply"),
    ({"from": "ana@acme.example", "x-auto-response-suppress": "All"}, "auto-reply"),
    ({"from": "ana@acme.example", "subject": "Automatic reply: hi"}, "auto-reply"),
    ({"from": "ana@acme.example", "subject": "自动回复: 您好"}, "auto-reply"),
    ({"from": "ana@acme.example", "precedence": "bulk"}, "list"),
    ({"from": "ana@acme.example", "list-id": "<x.acme.example>"}, "list"),
    ({"from": "MAILER-DAEMON@mx.example"}, "bounce"),
    ({"from": "ana@acme.example", "return-path": "<>"}, "bounce"),
    ({"from": "ana@acme.example", "content-type": "multipart/report; report-type=x"}, "bounce"),
    ({"from": "no-reply@shop.example"}, "no-reply"),
    ({"from": "do_not_reply@shop.example"}, "no-reply"),
    ({"from": "alerts@northwind.example"}, "own"),
])
def test_sender_kinds(headers: dict[str, str], kind: str) -> None:
    # RFC 3834 signals, bounces, lists, no-reply and our own addresses are told apart.
    assert classify_sender(headers, _internal).kind == kind


@pytest.mark.parametrize(("kind", "hour", "day", "refused"), [
    (SenderKind("human"), 0, 0, False),
    (SenderKind("human"), 1, 1, True),
    (SenderKind("human"), 0, 3, True),
    (SenderKind("auto-reply", "x"), 0, 0, True),
])
def test_ack_refusal(kind: SenderKind, hour: int, day: int, refused: bool) -> None:
    # Only people get acknowledgements, at most one an hour and three a day.
    assert bool(ack_refusal(kind, hour, day, AckLimits())) is refused


NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CONNECTED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


@pytest.mark.parametrize(("arrived", "connected", "max_age", "why"), [
    (NOW - timedelta(minutes=5), CONNECTED, DAY, ""),
    (CONNECTED - timedelta(days=1), CONNECTED, None, "before the mailbox was connected"),
    (CONNECTED - timedelta(minutes=4), CONNECTED, None, ""),  # clocks differ a little
    (NOW - timedelta(hours=25), CONNECTED, DAY, "more than 24 hours ago"),
    (NOW - timedelta(days=20), CONNECTED, None, ""),  # no age limit
    (NOW - timedelta(days=20), None, DAY, "more than 24 hours ago"),
])
def test_stale_refusal(arrived: datetime, connected: datetime | None,
                       max_age: timedelta | None, why: str) -> None:
    # Mail from before the connection or older than the limit opens its case silently.
    refusal = stale_refusal(arrived, connected, NOW, max_age)
    assert (why in refusal) if why else refusal == ""


@pytest.mark.parametrize(("candidates", "reopen", "expected"), [
    ([], True, ("new", None)),
    ([CaseCandidate(2, "CASE-000002", "New", "conversation"),
      CaseCandidate(1, "CASE-000001", "New", "token")], True, ("join", 1)),
    ([CaseCandidate(1, "CASE-000001", "Closed", "in-reply-to")], True, ("reopen", 1)),
    ([CaseCandidate(1, "CASE-000001", "Closed", "references")], False, ("follow_up", 1)),
])
def test_choose_case(candidates: list, reopen: bool, expected: tuple) -> None:
    # Token beats In-Reply-To beats References beats marker beats conversation.
    decision = choose_case(candidates, reopen_closed=reopen)
    assert (decision.action, decision.case_id) == expected


@pytest.mark.parametrize(("text", "category"), [
    ("my bill is wrong", "Billing"),
    ("a billion thanks", None),
    ("请帮忙退款", "Refund"),
    ("Réclamation officielle", "Complaint"),
])
def test_keyword_classification(text: str, category: str | None) -> None:
    # Latin keywords match whole words; Chinese ones match inside running text.
    rules = [RuleEntry(1, "bill", ("bill",), "Billing"), RuleEntry(2, "zh", ("退款",), "Refund"),
             RuleEntry(3, "fr", ("réclamation",), "Complaint")]
    rule = classify(text, "", rules)
    assert (rule.category if rule else None) == category


def test_business_hours_skip_nights_weekends_and_holidays() -> None:
    # 12 working hours from Thursday 24 Dec 16:00 Madrid skip Christmas (ES), the weekend
    # and an extra company holiday on Monday 28 Dec.
    calendar = parse_business_hours("Mon-Fri 09:00-17:00 Europe/Madrid", "ES;2026-12-28")
    received = datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    assert first_response_due(received, 12, calendar) == datetime(2026, 12, 30, 11, 0, tzinfo=UTC)
    assert first_response_due(received, 12) == datetime(2026, 12, 25, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(("spec", "holidays", "received", "hours", "due"), [
    # Wednesday 24 Dec 2031, 16:00 Madrid: Christmas (ES), an extra holiday on Friday 26,
    # the weekend; 1 + 8 + 3 working hours.
    ("Mon-Fri 09:00-17:00 Europe/Madrid", "ES;2031-12-26",
     datetime(2031, 12, 24, 15, 0, tzinfo=UTC), 12, datetime(2031, 12, 30, 11, 0, tzinfo=UTC)),
    # Tuesday 3 Jul 2035, 16:00 Los Angeles: Independence Day (US-CA) and an extra Thursday.
    ("Mon-Fri 09:00-17:00 America/Los_Angeles", "US-CA;2035-07-05",
     datetime(2035, 7, 3, 23, 0, tzinfo=UTC), 8, datetime(2035, 7, 6, 23, 0, tzinfo=UTC)),
    # Monday 30 Sep 2030, 17:00 Shanghai: National Day holidays (CN) 1-3 Oct, no extra dates.
    ("Mon-Fri 09:00-18:00 Asia/Shanghai", "CN",
     datetime(2030, 9, 30, 9, 0, tzinfo=UTC), 4, datetime(2030, 10, 4, 4, 0, tzinfo=UTC)),
])
def test_business_hours_in_any_year(
    spec: str, holidays: str, received: datetime, hours: int, due: datetime
) -> None:
    # Holiday calendars are the years the spec and the case name, not a year built in.
    calendar = parse_business_hours(spec, holidays)
    assert first_response_due(received, hours, calendar) == due


@pytest.mark.parametrize("holidays", ["XX", "ES-ZZ;2031-12-26", "ES;US"])
def test_bad_holiday_specs_are_refused_clearly(holidays: str) -> None:
    # An unknown country or region, whatever the years, is refused, not an empty calendar.
    with pytest.raises(ValueError, match="holidays"):
        parse_business_hours("Mon-Fri 09:00-17:00", holidays)


@pytest.mark.parametrize("spec", ["Mon-Fri", "Mon-Fri 9-5", "Mon-Xyz 09:00-17:00",
                                  "Mon-Fri 09:00-17:00 Mars/Olympus"])
def test_bad_business_hours_are_refused_clearly(spec: str) -> None:
    # A typo in the calendar is an error a person can act on, not a silent 24/7 clock.
    with pytest.raises(ValueError, match="business"):
        parse_business_hours(spec)


@pytest.mark.parametrize(("path", "expected"), [
    ("email_1_2.txt", "Hi,"),
    ("correct_sig.txt", "this is an email with a correct -- signature."),
    ("email_iPhone.txt", "Here is another email"),
    ("gmail.txt",
     "This is a test for inbox replying to a github message."),
])
def test_new_text_drops_quotes_and_signatures(path: str, expected: str) -> None:
    # The description is what the customer typed, per the reply-parser corpora.
    assert new_text((CORPORA / path).read_text(encoding="utf-8")) == expected


def test_new_text_of_nothing_is_empty() -> None:
    # A mail without a text body gives an empty description, never an error.
    assert new_text(None) == "" and new_text("   \n") == ""
