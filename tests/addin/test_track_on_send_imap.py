"""Track on send for a mailbox crmsync reads over IMAP: the draft's header carries the intent."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.addin.conftest import LiveApp
from tests.addin.pane import open_preview
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.servers.dovecot import DovecotServer


def _sent_copy(header: str) -> bytes:
    # A new thread (no References): only the header can tie it to the pane's choice.
    return (
        "From: Maria Lopez <maria.lopez@northwind.example>\r\nTo: hank@globex.example\r\n"
        "Subject: Pilot budget\r\nMessage-ID: <budget-1@northwind.example>\r\n"
        f"Date: Mon, 2 Nov 2099 10:00:00 +0000\r\n{header}\r\n\r\nBudget attached.\r\n"
    ).encode()


def test_sent_mail_synced_over_imap_is_tracked_by_its_header(
    page, live: LiveApp, dovecot: DovecotServer
) -> None:
    # Maria picks Initech while writing; the add-in marks the draft; the sent copy, synced
    # from Dovecot's Sent folder, is tracked to Initech by her.
    pane = open_preview(page, live, "<demo-004@mail.example>", mode="compose")
    pane.locator("[data-test=search]").fill("Initech")
    pane.locator("[data-test=search]").press("Enter")
    pane.locator("[data-test=search-results] [data-test=pick]").first.click()
    expect(pane.locator("[data-test=intent-status]")).to_have_text(
        "Will be tracked to Initech when sent.")
    headers = page.locator("#compose-headers")
    expect(headers).to_have_text(re.compile(r"^X-CRMSync-Track: [A-Za-z0-9_-]{16,64}$"))
    user = new_user(dovecot)
    dovecot.create_folder(user, "Sent")
    dovecot.append(user, "Sent", _sent_copy(headers.inner_text()), flags=[b"\\Seen"])
    name = add_mailbox(live.cli, dovecot, user, None, "--folders", "INBOX,Sent")
    assert "1 captured" in sync(live.cli, name)
    [sent] = [a for a in live.cli.export_activities()
              if a["internet_message_id"] == "<budget-1@northwind.example>"]
    assert ("account", "acc-initech", "user") in [
        (x["type"], x["external_id"], x["source"]) for x in sent["links"]]
    assert sent["sources"][0]["folder"] == "Sent"


def test_outlook_without_internet_headers_still_tracks_by_conversation(
    page, live: LiveApp
) -> None:
    # An Outlook older than Mailbox 1.8 cannot mark the draft: the pane says it will track
    # by conversation (the draft has one) and sets no header.
    pane = open_preview(page, live, "<demo-004@mail.example>", mode="compose", outlook="older")
    pane.locator("[data-test=search]").fill("Initech")
    pane.locator("[data-test=search]").press("Enter")
    pane.locator("[data-test=search-results] [data-test=pick]").first.click()
    expect(pane.locator("[data-test=intent-status]")).to_have_text(
        "Will be tracked to Initech when sent.")
    expect(page.locator("#compose-headers")).to_have_text("(none)")
