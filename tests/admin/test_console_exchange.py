"""An admin adds an Exchange Server mailbox from the browser: Test connection (wrong then
right password), Save, Sync now, the items counted; an Exchange Online URL, a private
address, and an impersonation the server refuses, each refused with what to do; all
against the EWS double, driven by the real exchangelib, in a real Chromium."""

from __future__ import annotations

import json
import re
import time

import pytest
from flask import Flask

from crmsync.connectors.network import REFUSED
from crmsync.crm.models import Mailbox
from crmsync.sync_service.engine.run import sync_mailbox
from tests.admin.chromium import mailbox_card, wait_for_status
from tests.admin.conftest import ADMIN, REP, LiveConsole, browser_sign_in
from tests.admin.console import post_form, sign_in
from tests.conftest import Cli
from tests.ews.helpers import mime
from tests.fakes import ews_fixtures
from tests.fakes.ews_fixtures import unique_address
from tests.fakes.ews_server import EwsDouble

#: What these tests hold does not depend on the database (the engine's behaviour on
#: PostgreSQL is covered by test_ews_mail.py and the IMAP and Graph suites): SQLite only,
#: to keep the suite's time.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ews_double = ews_fixtures.ews_double
ews = ews_fixtures.ews

PASSWORD = "Exch-console-1"


def _mailboxes(cli: Cli) -> list[dict]:
    return [json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines()]


def _fill_exchange_form(page, name: str, url: str, username: str, password: str,
                        address: str = "") -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Provider", exact=True).select_option(label="Exchange")
    page.get_by_label("Server URL", exact=True).fill(url)
    page.get_by_label("Authentication", exact=True).select_option(label="Basic")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    if address:
        page.get_by_label("Mailbox address", exact=True).fill(address)
    page.get_by_label("Owner", exact=True).select_option(REP)


def test_an_exchange_mailbox_is_tested_saved_and_synced(page, live: LiveConsole,
                                                        ews: EwsDouble) -> None:
    address = unique_address("console")
    box = ews.add_user(address, PASSWORD)
    for n in (1, 2, 3):
        box.add_item("inbox", mime=mime(100 + n, subject=f"Exchange console {n}",
                                        message_id=f"<console-ews-{n}@acme.example>"))
    browser_sign_in(page, live)
    page.get_by_role("link", name="Add mailbox").click()

    # Exchange is reached at a URL: host, port and security give way to it.
    page.get_by_label("Provider", exact=True).select_option(label="Exchange")
    assert page.get_by_label("Server URL", exact=True).is_visible()
    assert not page.get_by_label("Host", exact=True).is_visible()
    assert not page.get_by_label("Security", exact=True).is_visible()

    # A wrong password says so and saves nothing.
    _fill_exchange_form(page, "maria-exchange", ews.url, address, "wrong password")
    page.get_by_label("Sync the calendar", exact=True).uncheck()
    page.get_by_label("Sync contacts", exact=True).uncheck()
    page.get_by_role("button", name="Test connection").click()
    outcome = page.locator("#outcome").inner_text()
    assert "refused the sign-in: check the user name and password" in outcome, outcome
    assert "Nothing was saved" in outcome
    assert "host, port and security" not in outcome  # that is IMAP's advice, not a URL's
    assert _mailboxes(live.cli) == []

    # The right one: signed in, the Inbox found, its messages counted; Save keeps it.
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Test connection").click()
    outcome = page.locator("#outcome").inner_text()
    assert re.search(r"Connection works: signed in to Exchange, the Inbox found, 3 messages",
                     outcome), outcome
    assert page.get_by_label("Password", exact=True).input_value() == ""  # never echoed
    assert PASSWORD not in page.content()
    # the form kept what was typed, Exchange's fields showing
    assert page.get_by_label("Server URL", exact=True).input_value() == ews.url
    assert not page.get_by_label("Sync the calendar", exact=True).is_checked()
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").first.inner_text() == "Mailbox saved."
    [row] = _mailboxes(live.cli)
    assert (row["name"], row["provider"], row["status"], row["items"]) == (
        "maria-exchange", "ews", "new", 0)

    # Sync now: the items appear ("3 items") and the run is ok.
    page.goto(f"{live.url}/admin/mailboxes")
    card = mailbox_card(page, "maria-exchange")
    assert "Exchange" in card.locator(".muted").first.inner_text()
    card.get_by_role("button", name="Sync now").click()
    deadline = time.monotonic() + 30
    while not (card.locator(".items").inner_text() == "3 items"
               and card.locator("[data-status]").inner_text() == "ok"):
        assert time.monotonic() < deadline, page.content()[-3000:]
        time.sleep(0.3)
        page.goto(f"{live.url}/admin/mailboxes")
        card = mailbox_card(page, "maria-exchange")
    subjects = {a["subject"] for a in live.cli.export_activities()}
    assert {"Exchange console 1", "Exchange console 2", "Exchange console 3"} <= subjects
    audit = live.cli("audit", "list").output
    assert '"action": "mailbox.add"' in audit and '"provider": "ews"' in audit
    assert PASSWORD not in audit


def test_an_exchange_online_url_is_refused_with_the_way_to_microsoft_365(
        page, live: LiveConsole, ews: EwsDouble) -> None:
    browser_sign_in(page, live)
    page.goto(f"{live.url}/admin/mailboxes/new")
    _fill_exchange_form(page, "maria-online", "https://outlook.office365.com/EWS/Exchange.asmx",
                        "maria.lopez@northwind.example", "any password")
    page.get_by_role("button", name="Test connection").click()
    outcome = page.locator("#outcome").inner_text()
    assert "Exchange Online" in outcome and "choose the provider Microsoft 365" in outcome
    assert "Nothing was saved" in outcome
    page.get_by_label("Password", exact=True).fill("any password")
    page.get_by_role("button", name="Save").click()
    assert "choose the provider Microsoft 365" in page.locator("#outcome").inner_text()
    assert _mailboxes(live.cli) == []


def test_a_hostile_exchange_mailbox_name_stays_text(page, live: LiveConsole,
                                                    ews: EwsDouble) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    address = unique_address("hostile")
    ews.add_user(address, PASSWORD)
    browser_sign_in(page, live)
    page.goto(f"{live.url}/admin/mailboxes/new")
    _fill_exchange_form(page, hostile, ews.url, address, "<script>alert(2)</script>")
    page.get_by_role("button", name="Test connection").click()
    assert "refused the sign-in" in page.locator("#outcome").inner_text()
    page.get_by_label("Password", exact=True).fill("<script>alert(2)</script>")
    page.get_by_role("button", name="Save").click()
    page.goto(f"{live.url}/admin/mailboxes")
    card = mailbox_card(page, hostile)
    card.get_by_role("button", name="Sync now").click()
    wait_for_status(page, hostile, "needs re-auth")
    assert mailbox_card(page, hostile).get_by_role("heading").inner_text() == hostile
    assert "Exchange refused the sign-in" in mailbox_card(page, hostile).locator(
        ".last-error").inner_text()
    assert page.locator("img").count() == 0
    assert page.dialogs == []


def _exchange_form(ews: EwsDouble, **fields: str) -> dict[str, str]:
    return {"name": "support-exchange", "provider": "ews", "url": ews.url, "auth": "basic",
            "owner": REP, "purpose": "support", **fields}


def test_impersonation_is_tested_and_a_refusal_names_the_role(app: Flask, org: Cli,
                                                              ews: EwsDouble) -> None:
    service, address = unique_address("svc"), unique_address("support")
    ews.add_user(service, PASSWORD, address=unique_address("svc-own"))
    ews.mailbox(address).add_item("inbox", mime=mime(200))
    client = app.test_client()
    sign_in(client, ADMIN)
    form = _exchange_form(ews, username=service, password=PASSWORD, mailbox_address=address,
                          impersonate="1", folders="inbox")

    status, page = post_form(client, "/admin/mailboxes/test", form)
    assert status == 400 and "ApplicationImpersonation" in page, page
    assert "check the user name and password" not in page  # the password was right
    assert "Nothing was saved" in page and _mailboxes(org) == []

    # Saved all the same (Save does not connect): the mailbox says what the admin does.
    assert post_form(client, "/admin/mailboxes/new", form)[0] == 302
    services = app.extensions["crmsync"]
    assert sync_mailbox(services, "support-exchange").status == "needs_reauth"
    listing = client.get("/admin/mailboxes").get_data(as_text=True)
    assert "an Exchange admin grants the service account the ApplicationImpersonation" \
        in listing and "enter the current password" not in listing

    ews.grant_impersonation(service, address)
    status, page = post_form(client, "/admin/mailboxes/test", {**form, "name": "another"})
    assert status == 200 and "the Inbox found, 1 messages in it to fetch" in page, page
    assert sync_mailbox(services, "support-exchange").status == "ok"
    assert _mailboxes(org)[0]["items"] == 1
    with org.session() as db:
        stored = db.query(Mailbox).one().settings
    assert {k: stored[k] for k in ("username", "address", "impersonate", "calendar",
                                   "contacts", "folders")} == {
        "username": service, "address": address, "impersonate": True, "calendar": False,
        "contacts": False, "folders": ["inbox"]}


def test_a_private_or_plain_http_url_gets_the_same_refusal_as_other_providers(
        app: Flask, org: Cli, ews: EwsDouble) -> None:
    client = app.test_client()
    sign_in(client, ADMIN)
    for url in ("https://10.0.0.5/EWS/Exchange.asmx", "http://exchange.example/EWS/Exchange.asmx",
                "https://exchange.example:8443/EWS/Exchange.asmx"):
        status, page = post_form(client, "/admin/mailboxes/test", _exchange_form(
            ews, url=url, username="maria@northwind.example", password=PASSWORD))
        assert status == 400 and REFUSED.capitalize() in page, (url, page)
        assert "CRMSYNC_ALLOWED_PRIVATE_NETWORKS" in page
    # nothing answers at the URL: the URL is what to check, not a host, port and security
    status, page = post_form(client, "/admin/mailboxes/test", _exchange_form(
        ews, url="https://127.0.0.1:9/EWS/Exchange.asmx", username="maria@northwind.example",
        password=PASSWORD))
    assert status == 400 and "could not be reached: check the server URL" in page, page
    assert "host, port and security" not in page
    # a missing mailbox address for a service account is asked for, not guessed
    status, page = post_form(client, "/admin/mailboxes/new", _exchange_form(
        ews, username="svc@northwind.example", password=PASSWORD, impersonate="1"))
    assert status == 400 and "the service account impersonates that mailbox" in page
    assert _mailboxes(org) == []
