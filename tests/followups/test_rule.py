"""Follow-ups: customer mail to a rep unanswered after 12 business hours, through Dovecot.

The clock is frozen with ``--as-of``; the rep's hours are Maria's Berlin office week.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import Cli
from tests.followups.helpers import ANA, HANK, LI, MARIA, WEI, RepMailbox, followups, mail, subjects
from tests.servers.dovecot import DovecotServer

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BERLIN = "Mon-Fri 09:00-17:00 Europe/Berlin"
# Friday 23 October 2026, 15:00 in Berlin (CEST, UTC+2); Berlin leaves summer time on
# Sunday the 25th, so the due time Tuesday 11:00 is CET (UTC+1): 10:00 UTC.
FRIDAY_1500 = datetime(2026, 10, 23, 13, 0, tzinfo=UTC)


@pytest.fixture
def maria(cli: Cli, dovecot: DovecotServer) -> RepMailbox:
    box = RepMailbox(cli, dovecot, MARIA)
    cli("followups", "hours", "--user", MARIA[1], BERLIN)
    return box


def test_due_after_twelve_business_hours_across_a_weekend_and_the_dst_change(
    cli: Cli, maria: RepMailbox
) -> None:
    # Fri 15:00-17:00 (2 h) + Mon (8 h) + Tue 09:00-11:00 CET (2 h): due Tue 10:00 UTC,
    # on both backends (times stored in UTC, compared as instants).
    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500, "Questions on the proposal"))
    maria.sync()
    assert followups(cli, "2026-10-27T10:00:00Z") == []
    [due] = followups(cli, "2026-10-27T10:00:01Z")
    assert due["due"] == "2026-10-27T10:00:00Z"
    assert due["rep"] == MARIA[1]
    assert due["contact"] == {"external_id": "c-1", "name": "Ana Ruiz",
                              "email": "ana.ruiz@acme.example"}
    assert due["account"] == {"external_id": "acc-acme", "name": "Acme Corporation"}
    assert due["opportunity"]["external_id"] == "opp-1"  # open; the closed opp-4 never
    assert due["mail"]["subject"] == "Questions on the proposal"
    assert due["mail"]["received"] == "2026-10-23T13:00:00Z"
    assert due["mail"]["internet_message_id"] == "<q1@test.example>"


@SQLITE
def test_the_wait_is_a_setting(cli: Cli, maria: RepMailbox) -> None:
    # Four business hours instead of twelve: due Monday 11:00 CET (10:00Z).
    cli("followups", "wait", "4")
    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500))
    maria.sync()
    assert [f["due"] for f in followups(cli, "2026-10-26T10:00:01Z")] == ["2026-10-26T10:00:00Z"]
    assert cli("followups", "wait", "0", ok=False).exit_code == 2


@SQLITE
def test_a_holiday_pauses_the_clock(cli: Cli, maria: RepMailbox) -> None:
    # Monday the 26th off: the twelve hours end Wednesday 11:00 CET.
    cli("followups", "hours", "--user", MARIA[1], BERLIN, "--holidays", "2026-10-26")
    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500))
    maria.sync()
    assert followups(cli, "2026-10-28T09:59:00Z") == []
    assert [f["due"] for f in followups(cli, "2026-10-28T10:01:00Z")] == ["2026-10-28T10:00:00Z"]


@SQLITE
def test_the_organization_default_holds_for_reps_without_their_own(cli: Cli,
                                                                   dovecot: DovecotServer):
    # No hours of her own: the organization's Shanghai week counts for Maria.
    maria = RepMailbox(cli, dovecot, MARIA)
    cli("followups", "hours", "Mon-Fri 09:00-18:00 Asia/Shanghai")
    assert "(organization)" in cli("followups", "hours", "--user", MARIA[1]).output
    # Mon 2 Nov 2026 10:00 Shanghai (02:00 UTC): 8 h Monday, 4 h Tuesday → Tue 13:00 = 05:00Z
    maria.receive(mail("q1", ANA, MARIA, datetime(2026, 11, 2, 2, 0, tzinfo=UTC)))
    maria.sync()
    assert followups(cli, "2026-11-03T04:59:00Z") == []
    assert [f["due"] for f in followups(cli, "2026-11-03T05:01:00Z")] == ["2026-11-03T05:00:00Z"]


def test_a_reply_from_the_rep_clears_it_and_a_later_mail_starts_anew(
    cli: Cli, maria: RepMailbox
) -> None:
    # Maria answers on Wednesday: cleared from then on (still overdue as of Tuesday);
    # Ana's next mail in the thread waits again.
    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500))
    maria.sync()
    assert subjects(cli, "2026-10-27T12:00:00Z") == ["Fleet renewal"]
    maria.receive(mail("r1", MARIA, ANA, datetime(2026, 10, 28, 8, 0, tzinfo=UTC),
                       "Re: Fleet renewal", In_Reply_To="<q1@test.example>",
                       References="<q1@test.example>"), folder="Sent")
    maria.receive(mail("q2", ANA, MARIA, datetime(2026, 10, 29, 8, 0, tzinfo=UTC),
                       "Re: Fleet renewal", In_Reply_To="<r1@test.example>",
                       References="<q1@test.example> <r1@test.example>"))
    maria.sync()
    assert subjects(cli, "2026-10-27T12:00:00Z") == ["Fleet renewal"]
    assert subjects(cli, "2026-10-28T09:00:00Z") == []
    # q2 arrived Thu 09:00 CET: 8 h Thursday, 4 h Friday → due Fri 13:00 CET = 12:00Z
    [again] = followups(cli, "2026-10-30T12:00:01Z")
    assert again["mail"]["internet_message_id"] == "<q2@test.example>"
    assert again["due"] == "2026-10-30T12:00:00Z"


@SQLITE
def test_a_reply_naming_the_mail_only_in_in_reply_to_answers_it(
    cli: Cli, maria: RepMailbox
) -> None:
    # A mailer that writes In-Reply-To without References: the thread keys join them.
    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500, References="<older@acme.example>"))
    maria.receive(mail("r1", MARIA, ANA, datetime(2026, 10, 26, 8, 0, tzinfo=UTC),
                       "Re: Fleet renewal", In_Reply_To="<q1@test.example>"), folder="Sent")
    maria.sync()
    assert followups(cli, "2026-10-28T12:00:00Z") == []


@SQLITE
def test_a_customer_writing_twice_is_one_follow_up_since_the_first(
    cli: Cli, maria: RepMailbox
) -> None:
    # Ana chases her own mail on Monday: the follow-up stays the Friday one, due Tuesday.
    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500))
    maria.receive(mail("q2", ANA, MARIA, datetime(2026, 10, 26, 9, 0, tzinfo=UTC),
                       "Re: Fleet renewal", In_Reply_To="<q1@test.example>",
                       References="<q1@test.example>"))
    maria.sync()
    [one] = followups(cli, "2026-10-27T12:00:00Z")
    assert one["mail"]["internet_message_id"] == "<q1@test.example>"


@SQLITE
def test_only_the_reps_own_customers_and_the_rep_filter(
    cli: Cli, dovecot: DovecotServer, maria: RepMailbox
) -> None:
    # Hank (Globex, Maria's) counts; Li (Wei's customer) writing to Maria does not, and
    # Wei's own follow-up is his; --rep keeps one rep's.
    wei = RepMailbox(cli, dovecot, WEI, load_crm=False)
    maria.receive(mail("h1", HANK, MARIA, FRIDAY_1500, "Pilot scope"))
    maria.receive(mail("l1", LI, MARIA, FRIDAY_1500, "数据平台"))
    wei.receive(mail("l2", LI, WEI, FRIDAY_1500, "报价"))
    maria.sync()
    wei.sync()
    everyone = followups(cli, "2026-11-02T12:00:00Z")
    assert sorted((f["rep"], f["mail"]["subject"]) for f in everyone) == [
        (MARIA[1], "Pilot scope"), (WEI[1], "报价")]
    assert subjects(cli, "2026-11-02T12:00:00Z", "--rep", WEI[1]) == ["报价"]
    [hank] = followups(cli, "2026-11-02T12:00:00Z", "--rep", MARIA[1])
    assert hank["opportunity"]["external_id"] == "opp-2"


@SQLITE
def test_bad_input_gets_a_clear_error(cli: Cli, maria: RepMailbox) -> None:
    # A wrong instant, zone or user: one line, exit 1, nothing stored.
    assert "not an ISO-8601 instant" in cli("followups", "--as-of", "Friday", ok=False).output
    bad = cli("followups", "hours", "--user", MARIA[1], "Mon-Fri 09:00-17:00 Mars/Base", ok=False)
    assert bad.exit_code == 1 and "unknown time zone" in bad.output
    assert "no CRM user" in cli("followups", "hours", "--user", "x@y.example", ok=False).output
    assert BERLIN in cli("followups", "hours", "--user", MARIA[1]).output


@SQLITE
def test_no_reply_needed_clears_the_thread_until_the_customer_writes_again(
    cli: Cli, maria: RepMailbox
) -> None:
    # Dismissed Tuesday noon: gone from then on (still listed as of before the click);
    # Ana's next mail in the thread, Wednesday, is a follow-up of its own.
    from sqlalchemy import select

    from crmsync.crm.followups import dismiss
    from crmsync.crm.models import User

    maria.receive(mail("q1", ANA, MARIA, FRIDAY_1500))
    maria.sync()
    [waiting] = followups(cli, "2026-10-27T11:00:00Z")
    clicked = datetime(2026, 10, 27, 12, 0, tzinfo=UTC)
    with cli.session() as session:
        rep = session.scalars(select(User).where(User.email == MARIA[1])).one()
        assert not dismiss(session, rep, waiting["id"], datetime(2026, 10, 27, 9, 0, tzinfo=UTC))
        assert dismiss(session, rep, waiting["id"], clicked)
        session.commit()
    assert subjects(cli, "2026-10-27T11:59:00Z") == ["Fleet renewal"]
    assert followups(cli, "2026-10-27T12:00:01Z") == []
    maria.receive(mail("q2", ANA, MARIA, datetime(2026, 10, 28, 8, 0, tzinfo=UTC),
                       "Re: Fleet renewal", In_Reply_To="<q1@test.example>",
                       References="<q1@test.example>"))
    maria.sync()
    # q2: Wed 09:00 CET + 12 h → Thu 13:00 CET = 12:00Z
    [again] = followups(cli, "2026-10-29T12:00:01Z")
    assert again["mail"]["internet_message_id"] == "<q2@test.example>"
