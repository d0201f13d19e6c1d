"""Support intake never links a mail back onto a case a person took it off."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from crmsync.crm.models import Activity, Case, User
from crmsync.crm.tracking import Target, untrack
from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import Desk, mail
from tests.support.sinks import SmtpSink


def _case_links(cli: Cli, message_id: str) -> list[tuple[str, str]]:
    [activity] = [a for a in cli.export_activities() if a["internet_message_id"] == message_id]
    return [(x["external_id"], x["source"]) for x in activity["links"] if x["type"] == "case"]


def test_intake_respects_a_persons_removal(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, tmp_path: Path
) -> None:
    # A rep's copy of the customer's second mail was captured first and the rep took it off
    # CASE-000001; when the support mailbox then receives it, intake leaves it off the case.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    desk.sync()
    second = mail(2, subject="Another question [CASE-000001]")
    (tmp_path / "copy.eml").write_bytes(second)
    cli("mail", "import", str(tmp_path / "copy.eml"))
    assert [ext for ext, _ in _case_links(cli, "<s2@customer.example>")] == ["CASE-000001"]
    with cli.session() as session:
        activity = session.scalars(
            select(Activity).where(Activity.internet_message_id == "<s2@customer.example>")
        ).one()
        case = session.scalars(select(Case).where(Case.number == "CASE-000001")).one()
        rep = session.scalars(
            select(User).where(User.email == "maria.lopez@northwind.example")
        ).one()
        untrack(session, activity, Target("case", case.id), rep.id, datetime.now(UTC))
        session.commit()
    desk.receive(second)
    desk.receive(mail(3, subject="Third [CASE-000001]"))
    desk.sync()
    assert _case_links(cli, "<s2@customer.example>") == []
    [case_row] = desk.cases()
    assert len(case_row["activity_ids"]) == 2  # the first and third mails, not the second
