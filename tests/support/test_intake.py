"""Email-to-case through a real Dovecot support mailbox and a real SMTP sink."""

from __future__ import annotations

from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import ANA, STRANGER, SUPPORT, Desk, mail
from tests.support.sinks import SmtpSink

QUOTED_BODY = (
    "Hello,\n\nmy printer is broken again.\n\nThanks,\nAna\n-- \nAna Ruiz\nHead of Procurement\n\n"
    "On Mon, Nov 2, 2026 at 9:00 AM Support <support@northwind.example> wrote:\n"
    "> Did you try turning it off and on?\n"
)


def test_new_customer_mail_opens_a_case_and_is_acknowledged_once(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # A customer's new mail becomes case CASE-000001 with trimmed text, contact, account,
    # owner and due time, and the customer gets exactly one acknowledgement with the token.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1, body=QUOTED_BODY))
    desk.sync()
    desk.receive(mail(2, sender=STRANGER, subject="Where is my invoice?"))
    desk.sync()
    desk.sync()  # a third sync changes nothing
    cli("cases", "deliver")
    first, second = desk.cases()
    assert first["number"] == "CASE-000001" and second["number"] == "CASE-000002"
    assert first["subject"] == "Printer broken" and first["status"] == "New"
    # quoted history, signature and sign-off trimmed by mail-parser-reply
    assert first["description"] == "Hello,\n\nmy printer is broken again."
    assert first["contact_external_id"] == "c-1" and first["account_external_id"] == "acc-acme"
    assert first["created_at"] == "2026-11-02T09:01:00Z"
    assert first["first_response_due"] == "2026-11-02T21:01:00Z"
    assert first["first_response_at"] is None and len(first["activity_ids"]) == 1
    assert second["contact_external_id"] is None  # unknown sender, contacts not created
    [ack] = smtp.handler.to(ANA[1])
    assert "[CASE-000001]" in ack["Subject"]
    assert ack["Auto-Submitted"] == "auto-replied" and ack["X-Auto-Response-Suppress"] == "All"
    assert ack["In-Reply-To"] == "<s1@customer.example>"
    assert "ref:CASE-000001:crmsync" in ack.get_content()
    assert SUPPORT[1] in ack["From"]
    assert len(smtp.handler.to(STRANGER[1])) == 1


def test_replies_thread_by_token_references_marker_and_agent_reply_sets_first_response(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # Later mail joins the case by token, by References alone, or by a quoted marker;
    # the agent's reply from the Sent folder joins it and sets the first-response time.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    desk.sync()
    desk.receive(mail(2, subject="Another question [CASE-000001]"))
    desk.receive(mail(3, subject="no token", References="<x@y> <s1@customer.example>"))
    desk.receive(mail(4, subject="fresh words", body="see below\n> ref:CASE-000001:crmsync\n"))
    agent = mail(5, sender=SUPPORT, subject="Re: Printer broken",
                 In_Reply_To="<s1@customer.example>")
    desk.receive(agent.replace(b"To: Northwind Support <support@northwind.example>",
                               b"To: Ana Ruiz <ana.ruiz@acme.example>"), folder="Sent")
    desk.sync()
    [case] = desk.cases()
    assert len(case["activity_ids"]) == 5
    assert case["first_response_at"] == "2026-11-02T09:05:00Z"
    cli("cases", "deliver")
    assert len(smtp.handler.to(ANA[1])) == 1  # replies are not acknowledged


def test_reply_after_close_reopens_or_opens_a_follow_up(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # A reply to a closed case reopens it by default; with reopening off it opens a new
    # case instead.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    desk.sync()
    cli("cases", "close", "CASE-000001")
    desk.receive(mail(2, subject="Re: Printer broken [CASE-000001]"))
    desk.sync()
    [case] = desk.cases()
    assert case["status"] == "Reopened" and len(case["activity_ids"]) == 2
    cli("cases", "close", "CASE-000001")
    cli("cases", "settings", "reopen_closed", "false")
    desk.receive(mail(3, subject="Re: Printer broken [CASE-000001]", body="Still broken."))
    desk.sync()
    old, follow_up = desk.cases()
    assert old["status"] == "Closed" and follow_up["number"] == "CASE-000002"
    with cli.session() as session:
        from crmsync.crm.support import SupportCase

        row = session.get(SupportCase, 2)
        assert row is not None and row.follow_up_of_id == 1


def test_no_acknowledgement_to_automatic_senders(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # Out-of-office, bounces, list mail and no-reply senders never get an acknowledgement;
    # a bounce opens no case at all.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1, subject="Out of office", Auto_Submitted="auto-replied"))
    desk.receive(mail(2, sender=("Mail Delivery System", "MAILER-DAEMON@mx.acme.example"),
                      subject="Undelivered Mail Returned to Sender"))
    desk.receive(mail(3, sender=("Tom", "tom.becker@acme.example"), subject="News",
                      List_Id="<news.acme.example>"))
    desk.receive(mail(4, sender=("Shop", "no-reply@shop.example"), subject="Your order"))
    desk.receive(mail(5, sender=("Hank", "hank@globex.example"), subject="Weekly digest",
                      Precedence="bulk"))
    desk.sync()
    cli("cases", "deliver")
    assert smtp.handler.messages == []
    assert len(desk.cases()) == 4  # every mail but the bounce is a case
    reasons = {row["reason"].split(":")[0] for row in desk.outbox()}
    assert reasons == {"auto-reply", "list", "no-reply"}


def test_two_autoresponders_do_not_loop(cli: Cli, dovecot: DovecotServer, smtp: SmtpSink) -> None:
    # An autoresponder that sets no RFC 3834 header and answers every mail with a new
    # subject is acknowledged once; the exchange stops within three mails.
    desk = Desk(cli, dovecot, smtp)
    robot = ("Robot", "robot@acme.example")
    desk.receive(mail(1, sender=robot, subject="Thanks for your mail"))
    exchanges = 1
    for round_number in range(2, 6):
        desk.sync()
        cli("cases", "deliver")
        answered = len(smtp.handler.to(robot[1]))
        if answered < round_number - 1:
            break  # we did not answer: the loop has ended
        exchanges += 1  # our acknowledgement
        subject = f"Thanks for your mail #{round_number}"
        desk.receive(mail(round_number, sender=robot, subject=subject))
        exchanges += 1  # its answer to ours
    assert exchanges <= 3
    assert len(smtp.handler.to(robot[1])) == 1


def test_acknowledgements_per_sender_are_capped(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # Five new cases from one sender get at most three acknowledgements a day (the
    # hourly limit lifted for the test), and at most one an hour by default.
    desk = Desk(cli, dovecot, smtp)
    for n in range(1, 3):
        desk.receive(mail(n, subject=f"Question {n}"))
    desk.sync()
    cli("cases", "deliver")
    assert len(smtp.handler.to(ANA[1])) == 1
    cli("cases", "settings", "ack_per_hour", "100")
    for n in range(3, 8):
        desk.receive(mail(n, subject=f"Question {n}"))
    desk.sync()
    cli("cases", "deliver")
    assert len(desk.cases()) == 7
    assert len(smtp.handler.to(ANA[1])) == 3


def test_chinese_keywords_classify_and_name_templates(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, tmp_path
) -> None:
    # A rule with Chinese keywords sets category and priority and routes to a queue; its
    # templates are the ones suggested for the case.
    desk = Desk(cli, dovecot, smtp)
    rules = tmp_path / "rules.csv"
    rules.write_text(
        "name,keywords,category,priority,owner_email,queue,templates,sla_hours,position\n"
        "refund-zh,退款;退货,Billing,High,wei.zhang@northwind.example,,退款模板,4,1\n"
        "complaint,complaint;投诉,Complaint,High,,Support,,,2\n", encoding="utf-8")
    cli("cases", "rules", "import", str(rules))
    desk.receive(mail(1, sender=("李晓明", "xiaoming.li@yunfan.example.cn"),
                      subject="订单问题", body="您好，\n\n我的订单一直没有发货，请帮忙退款。\n"))
    desk.sync()
    desk.receive(mail(2, subject="Formal complaint about delivery"))
    desk.sync()
    refund, complaint = desk.cases()
    assert (refund["category"], refund["priority"]) == ("Billing", "High")
    assert refund["account_external_id"] == "acc-yunfan"
    assert refund["first_response_due"] == "2026-11-02T13:01:00Z"  # the rule's 4 hours
    assert complaint["category"] == "Complaint"
    with cli.session() as session:
        from crmsync.crm.support import suggested_template_names

        assert suggested_template_names(session, 1) == ["退款模板"]
    report = cli("cases", "report", "--category", "Complaint").output
    assert '"week": "2026-W45"' in report and '"account_external_id": "acc-acme"' in report


def test_a_burst_of_identical_mails_is_held_as_one_case(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # Fifteen identical mails from one sender within a minute make one case, one
    # acknowledgement and one burst alert.
    desk = Desk(cli, dovecot, smtp)
    for n in range(15):
        raw = mail(0, subject="HELP").replace(b"<s0@customer.example>", f"<b{n}@x>".encode())
        desk.receive(raw.replace(b"09:00:00", f"09:00:{n * 3:02d}".encode()))
    desk.sync()
    cli("cases", "deliver")
    [case] = desk.cases()
    assert len(case["activity_ids"]) == 15
    assert len(smtp.handler.to(ANA[1])) == 1
    with cli.session() as session:
        from sqlalchemy import select

        from crmsync.crm.support import SupportAlert

        assert [a.kind for a in session.scalars(select(SupportAlert))] == ["burst"]
