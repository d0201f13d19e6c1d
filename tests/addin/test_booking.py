"""Book, list, move and cancel a meeting from a contact's card in the task pane (headless
Chromium): the meeting is booked with the contact, linked to the record, nobody invited
unless the box is ticked; another team's meeting is neither listed nor cancellable."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import expect
from sqlalchemy import select

from crmsync.crm.bookings import BookedMeeting
from crmsync.crm.models import Mailbox, User
from tests.addin.conftest import LiveApp
from tests.addin.pane import open_preview

WEI = "wei.zhang@northwind.example"
MARIA = "maria.lopez@northwind.example"


def _weis_meeting_with_ana(live: LiveApp) -> str:
    """A meeting Wei (Sales APAC) booked with Ana, held by his own mailbox."""
    with live.cli.session() as session:
        wei = session.scalars(select(User).where(User.email == WEI)).one()
        session.add(Mailbox(name="wei-box", provider="fake", owner_id=wei.id, settings={},
                            created_at=datetime.now(UTC)))
        session.commit()
    return live.cli("calendar", "add", WEI, "--subject", "Wei's visit", "--start",
                    "2027-01-12T02:00:00Z", "--end", "2027-01-12T03:00:00Z",
                    "--with", "ana.ruiz@acme.example", "--link", "contact:c-1").output.strip()


def test_book_move_and_cancel_from_the_card_and_another_teams_meeting_stays(
        browser, live: LiveApp) -> None:
    weis = _weis_meeting_with_ana(live)
    context = browser.new_context(timezone_id="Europe/Madrid")
    page = context.new_page()
    try:
        pane = open_preview(page, live, "<demo-001@mail.example>")
        card = pane.locator("[data-test=card]").first
        block = card.locator("[data-test=meetings]")
        expect(block).to_have_attribute("data-loaded", "1")
        expect(block.locator("[data-test=booked-meeting]")).to_have_count(0)  # not Wei's
        block.locator("[data-test=book-meeting]").click()
        form = block.locator("[data-test=meeting-form]")
        form.locator("[data-test=meeting-subject]").fill("Pilot review")
        form.locator("[data-test=meeting-start]").fill("2027-01-11T10:00")
        form.locator("[data-test=meeting-end]").fill("2027-01-11T11:00")
        expect(form.locator("[data-test=meeting-invite]")).not_to_be_checked()
        form.locator("[data-test=book-meeting-save]").click()
        listed = block.locator("[data-test=booked-meeting]")
        expect(listed).to_have_count(1)
        expect(listed.locator("[data-test=booked-subject]")).to_have_text("Pilot review")
        [meeting] = [a for a in live.cli.export_activities() if a["subject"] == "Pilot review"]
        assert meeting["kind"] == "meeting"
        assert meeting["occurred_at"] == "2027-01-11T09:00:00Z"  # 10:00 in Madrid
        assert sorted(link["external_id"] for link in meeting["links"]) == ["acc-acme", "c-1"]
        with live.cli.session() as session:
            booked = session.scalars(select(BookedMeeting).where(
                BookedMeeting.activity_id == int(meeting["id"]))).one()
            assert (booked.attendees, booked.invite, booked.owner.email) == (
                ["ana.ruiz@acme.example"], False, MARIA)
        # Moved from the card: the whole meeting takes the new time (16:00 in Madrid).
        listed.locator("[data-test=move-meeting]").click()
        expect(listed.locator("[data-test=move-start]")).to_have_value("2027-01-11T10:00")
        listed.locator("[data-test=move-start]").fill("2027-01-12T16:00")
        listed.locator("[data-test=move-end]").fill("2027-01-12T17:00")
        listed.locator("[data-test=move-save]").click()
        expect(listed.locator("[data-test=move-form]")).to_have_count(0)
        [moved] = [a for a in live.cli.export_activities() if a["subject"] == "Pilot review"]
        assert moved["occurred_at"] == "2027-01-12T15:00:00Z"
        with live.cli.session() as session:
            assert session.scalar(select(BookedMeeting.pending).where(
                BookedMeeting.activity_id == int(meeting["id"]))) == ["end", "start"]
        listed.locator("[data-test=cancel-meeting]").click()
        expect(listed).to_have_count(0)
        with live.cli.session() as session:
            assert session.scalar(select(BookedMeeting.status).where(
                BookedMeeting.activity_id == int(meeting["id"]))) == "cancelled"
        [kept] = [a for a in live.cli.export_activities() if a["subject"] == "Pilot review"]
        assert sorted(link["external_id"] for link in kept["links"]) == ["acc-acme", "c-1"]
    finally:
        context.close()
    # Wei's meeting is another team's: Maria's key cannot cancel it (404), and it stands.
    key = live.cli("apikey", "create", MARIA).output.split()[-1]
    client = live.app.test_client()
    answer = client.delete(f"/api/v1/meetings/{weis}", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 404
    with live.cli.session() as session:
        assert session.scalar(select(BookedMeeting.status).where(
            BookedMeeting.activity_id == int(weis))) == "confirmed"


def test_the_booking_form_in_chinese(page, live: LiveApp) -> None:
    pane = open_preview(page, live, "<demo-001@mail.example>", lang="zh-CN")
    block = pane.locator("[data-test=card]").first.locator("[data-test=meetings]")
    expect(block.locator("h3")).to_have_text("在 CRM 中预约的会议")
    block.locator("[data-test=book-meeting]").click()
    expect(block.locator("[data-test=book-meeting-save]")).to_have_text("预约")
    expect(block.locator("[data-test=meeting-form]")).to_contain_text("发送邀请")
    expect(block.locator("[data-test=meeting-form]")).to_contain_text("开始")
