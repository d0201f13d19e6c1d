"""An admin runs a mailbox from the browser: add, test (wrong then right password), save,
sync now, counts, pause, resume, remove, against a real Dovecot in a real Chromium."""

from __future__ import annotations

import json
import re
import time

from crmsync.sync_service.engine.run import sync_mailbox
from tests.admin.chromium import mailbox_card, wait_for_status
from tests.admin.conftest import REP, LiveConsole, browser_sign_in
from tests.servers.dovecot import DovecotServer, new_user

ANA = "ana.ruiz@acme.example"


def _mail(n: int) -> bytes:
    return (f"From: Ana Ruiz <{ANA}>\r\nTo: Maria Lopez <{REP}>\r\n"
            f"Subject: Console flow {n}\r\nMessage-ID: <console-flow-{n}@acme.example>\r\n"
            f"Date: Mon, 30 Nov 2026 10:0{n}:00 +0000\r\n\r\nHello {n}\r\n").encode()


def _mailboxes(live: LiveConsole) -> list[dict]:
    out = live.cli("mailbox", "list", "--json").output
    return [json.loads(line) for line in out.splitlines()]


def _fill_imap_form(page, dovecot: DovecotServer, name: str, user: str, password: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Provider", exact=True).select_option(label="IMAP")
    page.get_by_label("Host", exact=True).fill(dovecot.host)
    page.get_by_label("Port", exact=True).fill(str(dovecot.port))
    page.get_by_label("Security", exact=True).select_option("none")
    page.get_by_label("Username", exact=True).fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Owner", exact=True).select_option(REP)


def _wait_for_items(page, live: LiveConsole, name: str, count: int) -> None:
    """Reload until the run that brings ``count`` items has finished (the items are
    committed page by page, the run's end a moment later: "syncing" until then)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.goto(f"{live.url}/admin/mailboxes")
        card = mailbox_card(page, name)
        if card.locator(".items").inner_text().startswith(f"{count} ") \
                and card.locator("[data-status]").inner_text() != "syncing":
            return
        time.sleep(0.3)
    raise AssertionError(page.content()[-3000:] + live.cli("mailbox", "list").output)


def test_add_test_save_sync_pause_resume_remove(page, live: LiveConsole,
                                                dovecot: DovecotServer) -> None:
    user = new_user(dovecot)
    for n in (1, 2):
        dovecot.append(user, "INBOX", _mail(n))
    browser_sign_in(page, live)
    page.get_by_role("link", name="Add mailbox").click()

    # A wrong password says so and saves nothing.
    _fill_imap_form(page, dovecot, "maria-imap", user, "wrong password")
    page.get_by_role("button", name="Test connection").click()
    outcome = page.locator("#outcome").inner_text()
    assert "refused the sign-in" in outcome and "Nothing was saved" in outcome
    assert _mailboxes(live) == []

    # The right one: sign-in works, folders found, messages counted; Save keeps it.
    page.get_by_label("Password", exact=True).fill("pw-" + user)
    page.get_by_role("button", name="Test connection").click()
    outcome = page.locator("#outcome").inner_text()
    assert re.search(r"Connection works: \d+ folders found, 2 messages to fetch in INBOX",
                     outcome), outcome
    # never echoed into the page
    assert page.get_by_label("Password", exact=True).input_value() == ""
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").first.inner_text() == "Mailbox saved."
    [row] = _mailboxes(live)
    assert (row["name"], row["status"], row["items"]) == ("maria-imap", "new", 0)

    # Sync now: the counts appear.
    page.goto(f"{live.url}/admin/mailboxes")
    mailbox_card(page, "maria-imap").get_by_role("button", name="Sync now").click()
    _wait_for_items(page, live, "maria-imap", 2)
    assert mailbox_card(page, "maria-imap").locator("[data-status]").inner_text() == "ok"
    page.get_by_role("link", name="maria-imap").click()
    cells = page.locator("table.runs tr").nth(1).locator("td").all_inner_texts()
    assert cells[2:] == ["ok", "2", ""], cells

    # Pause: no sync touches it, whoever asks; Resume: the new mail comes in.
    page.goto(f"{live.url}/admin/mailboxes")
    mailbox_card(page, "maria-imap").get_by_role("button", name="Pause").click()
    assert mailbox_card(page, "maria-imap").locator("[data-status]").inner_text() == "paused"
    dovecot.append(user, "INBOX", _mail(3))
    services = live.app.extensions["crmsync"]
    assert sync_mailbox(services, "maria-imap").status == "paused"
    assert "paused" in live.cli("sync", "--mailbox", "maria-imap", "--once").output
    assert _mailboxes(live)[0]["items"] == 2
    mailbox_card(page, "maria-imap").get_by_role("button", name="Resume").click()
    mailbox_card(page, "maria-imap").get_by_role("button", name="Sync now").click()
    _wait_for_items(page, live, "maria-imap", 3)

    # Remove: the mailbox is gone, the mail it brought stays in the CRM.
    mailbox_card(page, "maria-imap").get_by_role("button", name="Remove").click()
    assert mailbox_card(page, "maria-imap").count() == 0
    assert _mailboxes(live) == []
    subjects = {a["subject"] for a in live.cli.export_activities()}
    assert {"Console flow 1", "Console flow 2", "Console flow 3"} <= subjects
    actions = live.cli("audit", "list").output
    for action in ("mailbox.add", "mailbox.sync_now", "mailbox.pause", "mailbox.resume",
                   "mailbox.remove", "console.sign_in"):
        assert f'"action": "{action}"' in actions, action
    assert "pw-" + user not in actions


def test_a_hostile_mailbox_name_and_error_stay_text(page, live: LiveConsole,
                                                    dovecot: DovecotServer) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    user = new_user(dovecot)
    browser_sign_in(page, live)
    page.goto(f"{live.url}/admin/mailboxes/new")
    _fill_imap_form(page, dovecot, hostile, user, "<script>alert(2)</script>")
    page.get_by_role("button", name="Save").click()
    page.goto(f"{live.url}/admin/mailboxes")
    mailbox_card(page, hostile).get_by_role("button", name="Sync now").click()
    wait_for_status(page, hostile, "needs re-auth")
    assert mailbox_card(page, hostile).get_by_role("heading").inner_text() == hostile
    assert "enter the current password" in mailbox_card(page, hostile).locator(
        ".next-step").inner_text()
    assert page.locator("img").count() == 0
    assert page.dialogs == []
