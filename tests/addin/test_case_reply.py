"""The task pane's reply box: an agent answers a case beside the customer's mail, in a real
Chromium, and the reply leaves the support mailbox through the outbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from crmsync.sync_service.web.app import create_app
from tests.addin.conftest import LiveApp, serve
from tests.addin.pane import open_preview
from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import ANA, Desk, mail
from tests.support.sinks import SmtpSink, smtp

__all__ = ["smtp"]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def desk(cli: Cli, dovecot: DovecotServer, smtp: SmtpSink) -> Desk:
    """A support mailbox (Maria's) with Ana's mail on CASE-000001."""
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    desk.sync()
    return desk


@pytest.fixture
def live(desk: Desk) -> Iterator[LiveApp]:
    """The pane's preview on the desk's database (signed in as the mailbox's owner)."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test-key", "DEMO": True,
                      "DATABASE_URL": desk.cli.env["CRMSYNC_DATABASE_URL"]})
    url, stop = serve(app)
    yield LiveApp(url, app, desk.cli)
    stop()
    app.extensions["crmsync"].dispose()


def test_reply_from_the_pane_goes_out_and_is_filed_on_the_case(
    page, live: LiveApp, desk: Desk, smtp: SmtpSink
) -> None:
    # Reply on the case shown for Ana's mail: queued, filed, sent once with the case token.
    pane = open_preview(page, live, "<s1@customer.example>")
    case = pane.locator("[data-test=card] [data-test=case]").first
    expect(case).to_contain_text("CASE-000001")
    case.locator("[data-test=case-reply]").click()
    case.locator("[data-test=reply-body]").fill("Please restart the printer.")
    case.locator("[data-test=send-reply]").click()
    expect(case.locator("[data-test=reply-status]")).to_contain_text(
        "Reply on CASE-000001 filed on the case")
    desk.cli("cases", "deliver")
    [reply] = [m for m in smtp.handler.to(ANA[1]) if m["Auto-Submitted"] is None]
    assert reply["Subject"] == "Re: Printer broken [CASE-000001]"
    assert reply["In-Reply-To"] == "<s1@customer.example>"
    [filed] = desk.cases()
    assert filed["first_response_at"] is not None and len(filed["activity_ids"]) == 2


def test_a_refused_reply_says_why_in_chinese(page, live: LiveApp) -> None:
    # An empty reply is refused by the API; the pane says so in the user's language.
    pane = open_preview(page, live, "<s1@customer.example>", lang="zh-CN")
    case = pane.locator("[data-test=card] [data-test=case]").first
    case.locator("[data-test=case-reply]").click()
    expect(case.locator("[data-test=send-reply]")).to_have_text("发送回复")
    case.locator("[data-test=reply-body]").fill("   ")
    case.locator("[data-test=send-reply]").click()
    expect(case.locator("[data-test=reply-status]")).to_contain_text("未发送：the reply is empty")
