"""The pane in read mode, in a real Chromium, against the sample CRM and mailbox."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from crmsync.crm.links import LinkRemoval
from crmsync.crm.models import Activity, ActivityLink, Case, Contact, ContactEmail, User
from tests.addin.conftest import LiveApp
from tests.addin.pane import open_preview


def test_known_contact_card_shows_account_deals_history_and_tracking(page, live: LiveApp) -> None:
    # Ana's mail shows who she is, Acme's open deal, her history and where the mail is tracked.
    pane = open_preview(page, live, "<demo-001@mail.example>")
    card = pane.locator("[data-test=card]").first
    expect(card.locator("[data-test=card-name]")).to_have_text("Ana Ruiz")
    expect(card.locator("[data-test=contact-title]")).to_have_text("Head of Procurement")
    expect(card.locator("[data-test=account]")).to_have_text("Acme Corporation")
    deal = card.locator("[data-test=opportunity]")
    expect(deal).to_have_count(1)  # the closed 2025 renewal is not shown
    expect(deal).to_contain_text("Acme fleet renewal 2027")
    expect(deal).to_contain_text("Proposal")
    expect(deal.locator("[data-test=amount]")).to_have_text("120,000")
    history = card.locator("[data-test=timeline-item]").all_inner_texts()
    assert any("Fleet renewal: questions on the proposal" in h for h in history)
    assert history.index(next(h for h in history if "AW: RE: Fleet" in h)) < history.index(
        next(h for h in history if h.endswith("· Fleet renewal: questions on the proposal")))
    links = pane.locator("[data-test=tracked] [data-test=link]")
    expect(links.first).to_be_visible()
    expect(pane.locator("[data-test=tracked]")).to_contain_text("sender is contact Ana Ruiz")


def test_unknown_sender_gets_a_prefilled_create_contact(page, live: LiveApp) -> None:
    # Jo Park writes from acme.example but is not in the CRM: one click makes her an Acme contact.
    pane = open_preview(page, live, "demo-005@mail.example")
    card = pane.locator("[data-test=card]").first
    expect(card.locator("[data-test=not-in-crm]")).to_be_visible()
    card.locator("[data-test=create-contact]").click()
    expect(card.locator("[data-test=new-first_name]")).to_have_value("Jo")
    expect(card.locator("[data-test=new-last_name]")).to_have_value("Park")
    expect(card.locator("[data-test=new-email]")).to_have_value("jo.park@acme.example")
    card.locator("[data-test=new-title]").fill("Accounts payable")
    card.locator("[data-test=save-contact]").click()
    expect(pane.locator("[data-test=card]").first.locator("[data-test=contact-title]")).to_have_text(
        "Accounts payable")
    with live.cli.session() as session:
        contact = session.scalars(select(Contact).join(ContactEmail).where(
            ContactEmail.address == "jo.park@acme.example")).one()
        assert (contact.first_name, contact.last_name) == ("Jo", "Park")
        assert contact.account.external_id == "acc-acme"


def test_track_by_search_then_untrack(page, live: LiveApp) -> None:
    # A rep tracks Hank's mail to Initech by search, sees who did it, then untracks it.
    pane = open_preview(page, live, "<demo-004@mail.example>")
    pane.locator("[data-test=search]").fill("Initech")
    pane.locator("[data-test=search]").press("Enter")
    result = pane.locator("[data-test=search-results] [data-test=record]").first
    expect(result).to_contain_text("Initech")
    result.locator("[data-test=pick]").click()
    tracked = pane.locator("[data-test=tracked] [data-test=link]", has_text="Initech")
    expect(tracked).to_contain_text("tracked by Maria Lopez")
    with live.cli.session() as session:
        link = session.scalars(select(ActivityLink).join(Activity).where(
            Activity.internet_message_id == "<demo-004@mail.example>",
            ActivityLink.account_id.is_not(None), ActivityLink.source == "user")).one()
        maria = session.scalars(select(User).where(User.email.like("maria%"))).one()
        assert link.created_by_id == maria.id and link.account.name == "Initech"
    tracked.locator("[data-test=untrack]").click()
    links = pane.locator("[data-test=tracked] [data-test=link]")
    expect(links.filter(has_text="Initech")).to_have_count(0)
    expect(pane.locator("[data-test=link-name]", has_text="Hank Scorpio")).to_have_count(1)
    with live.cli.session() as session:
        assert session.scalars(select(LinkRemoval)).one().removed_by_id == maria.id


def test_create_case_from_a_mail(page, live: LiveApp) -> None:
    # Tom's outage mail becomes a numbered case for Tom at Acme, and the mail is tracked to it.
    pane = open_preview(page, live, "<demo-011@mail.example>")
    pane.locator("[data-test=create-case]").click()
    expect(pane.locator("[data-test=case-subject]")).to_have_value("Outage at our Berlin site")
    expect(pane.locator("[data-test=case-description]")).not_to_have_value("")
    pane.locator("[data-test=save-case]").click()
    expect(pane.locator("[data-test=case-status]")).to_have_text("Case CASE-000001 created.")
    with live.cli.session() as session:
        case = session.scalars(select(Case)).one()
        assert case.number == "CASE-000001" and case.subject == "Outage at our Berlin site"
        assert session.get(Contact, case.contact_id).full_name == "Tom Becker"
        link = session.scalars(select(ActivityLink).where(ActivityLink.case_id == case.id)).one()
        assert link.source == "user"
        assert link.activity.internet_message_id == "<demo-011@mail.example>"


def test_chinese_ui_from_display_language(page, live: LiveApp) -> None:
    # A mailbox in Simplified Chinese gets the pane in Chinese, with Chinese CRM data as text.
    pane = open_preview(page, live, "<demo-009@yunfan.example.cn>", lang="zh-CN")
    expect(pane.locator("h2").first).to_have_text("联系人")
    card = pane.locator("[data-test=card]").first
    expect(card.locator("[data-test=card-name]")).to_have_text("晓明 李")
    expect(card.locator("[data-test=contact-title]")).to_have_text("采购经理")
    expect(pane.locator("[data-test=create-case]")).to_have_text("创建案例")
    # opp-3 belongs to another team's rep: Maria does not see it
    expect(card.locator("[data-test=opportunity]")).to_have_count(0)
