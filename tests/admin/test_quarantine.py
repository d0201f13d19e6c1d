"""The Quarantine page: reasons in plain words, a preview that is only ever text, Retry
once the cause is gone, Discard, who sees which item, and managers only looking; the
same functions behind ``crmsync quarantine``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crmsync.sync_service.engine import store
from crmsync.sync_service.engine.quarantine import HEADER_ONLY, explain
from tests.admin.chromium import console_page, serve_console, sign_in_page
from tests.admin.console import csrf_token, sign_in
from tests.conftest import Cli
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.servers.dovecot import DovecotServer

ADMIN = "olivia.admin@northwind.example"
MANAGER = "mike.chen@northwind.example"  # Sales APAC, Zhang Wei's team
MARIA = "maria.lopez@northwind.example"  # Sales EMEA
WEI = "wei.zhang@northwind.example"  # Sales APAC
ANA = "ana.ruiz@acme.example"  # a contact of Acme

#: an HTML-only mail whose header holds a NUL byte: unreadable, kept whole
BROKEN_HTML = (
    b"From: Ana Ruiz <ana.ruiz@acme.example>\r\nTo: maria.lopez@northwind.example\r\n"
    b"Subject: Broken invoice\r\nX-Junk: a\x00b\r\n"
    b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n--b1\r\n'
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p>Hello <b>Maria</b>, bad byte: \xff</p><script>alert('pwned')</script>"
    b"<img src=x onerror=\"alert('img')\">\r\n--b1--\r\n"
)
#: a plain mail naming no sender, whose text holds markup
NO_SENDER = (
    b"To: maria.lopez@northwind.example\r\nSubject: Who wrote this\r\n"
    b"Message-ID: <no-sender@acme.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"<script>alert('plain')</script> is only text here\r\n"
)


def _mail(subject: str, body: str = "About the order.") -> bytes:
    slug = re.sub(r"\W+", "-", subject.lower())
    return (f"From: Ana Ruiz <{ANA}>\r\nTo: {MARIA}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{slug}@acme.example>\r\nDate: Tue, 03 Nov 2026 10:00:00 +0000\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def _mbox(path: Path, *mails: bytes) -> str:
    path.write_bytes(b"".join(b"From sender@example Tue Nov  3 10:00:00 2026\n"
                              + m.replace(b"\r\n", b"\n") + b"\n" for m in mails))
    return str(path)


def _signed_in(app: Flask, who: str = ADMIN) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, who) == 302
    return client


def _items(cli: Cli) -> list[dict]:
    out = cli("quarantine", "list", "--json").output
    return [json.loads(line) for line in out.splitlines()]


def _post(client: FlaskClient, url: str) -> int:
    token = csrf_token(client, "/admin/quarantine")
    return client.post(url, data={"csrf_token": token}).status_code


def _crash_mapping(monkeypatch: pytest.MonkeyPatch, why: str) -> None:
    """Make the mapping step blow up, as a fault in crmsync would."""
    def crash(*_args, **_kwargs):
        raise RuntimeError(why)

    monkeypatch.setattr(store, "decide_mail", crash)


def test_a_malformed_mail_shows_its_reason_and_only_its_text(org: Cli, app: Flask,
                                                              tmp_path: Path) -> None:
    # Two damaged mails from a real import: each listed with its reason in words, and a
    # preview that is the mail's text; no markup from either reaches the page.
    org("mail", "import", _mbox(tmp_path / "broken.mbox", BROKEN_HTML, NO_SENDER))
    assert sorted(i["reason"] for i in _items(org)) == [
        "header block has NUL bytes (binary data, not a mail)", "no sender address"]
    page = _signed_in(app).get("/admin/quarantine")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Broken invoice" in html and "Who wrote this" in html
    assert explain("no sender address") in html.replace("&#39;", "'")
    assert "header block has NUL bytes" in html
    # The HTML part's text, with the undecodable byte as a replacement character.
    assert "Hello Maria, bad byte: \ufffd" in html
    # Markup in a plain part is shown as text; the HTML part's script and handlers never.
    assert "&lt;script&gt;alert(&#39;plain&#39;)&lt;/script&gt; is only text here" in html
    assert "<script" not in html and "pwned" not in html and "onerror" not in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_retry_stores_the_mail_once_the_cause_is_gone(org: Cli, app: Flask, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # A mail quarantined by a fault in mapping is stored by Retry after the fix (the
    # fault undone), shows among the activities, and the retry is audited.
    _crash_mapping(monkeypatch, "matcher crashed")
    org("mail", "import", _mbox(tmp_path / "order.mbox", _mail("Order 4711 confirmed")))
    [item] = _items(org)
    assert item["reason"] == "could not be mapped: RuntimeError('matcher crashed')"
    admin = _signed_in(app)
    assert explain(item["reason"]) in admin.get("/admin/quarantine").get_data(
        as_text=True).replace("&#39;", "'")
    monkeypatch.undo()
    assert _post(admin, f"/admin/quarantine/{item['id']}/retry") == 302
    after = admin.get("/admin/quarantine").get_data(as_text=True)
    assert "Retried: the mail is stored and shows under Activities." in after
    assert "Nothing is quarantined." in after and _items(org) == []
    [activity] = org.export_activities()
    assert activity["subject"] == "Order 4711 confirmed"
    assert {(lk["type"], lk["external_id"]) for lk in activity["links"]} >= {
        ("contact", "c-1"), ("account", "acc-acme")}
    assert "Order 4711 confirmed" in admin.get("/admin/").get_data(as_text=True)
    [event] = [json.loads(e) for e in org("audit", "list", "--action",
                                          "quarantine.retry").output.splitlines()]
    assert (event["actor"], event["target"], event["detail"]) == (
        ADMIN, str(item["id"]), {"resolved": True})


def test_an_item_failing_again_keeps_the_new_reason_and_discard_removes_it(
        org: Cli, app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Retry from the command line fails again (exit 1, the new reason kept); Discard in
    # the console deletes the item and audits its id only.
    _crash_mapping(monkeypatch, "first fault")
    org("mail", "import", _mbox(tmp_path / "a.mbox", _mail("Pricing for 2027")))
    [item] = _items(org)
    _crash_mapping(monkeypatch, "second fault")
    failed = org("quarantine", "retry", str(item["id"]), ok=False)
    assert failed.exit_code == 1 and "still quarantined" in failed.output
    [kept] = _items(org)
    assert (kept["id"], kept["reason"]) == (item["id"],
                                            "could not be mapped: RuntimeError('second fault')")
    assert org.export_activities() == []
    admin = _signed_in(app)
    assert _post(admin, f"/admin/quarantine/{item['id']}/discard") == 302
    assert _items(org) == [] and org.export_activities() == []
    assert _post(admin, f"/admin/quarantine/{item['id']}/discard") == 404
    [event] = [json.loads(e) for e in org("audit", "list", "--action",
                                          "quarantine.discard").output.splitlines()]
    assert (event["target"], event["detail"]) == (str(item["id"]), {})


def test_a_manager_only_looks(org: Cli, app: Flask, tmp_path: Path) -> None:
    # A manager sees the quarantine without Retry or Discard; their POSTs are refused.
    org("mail", "import", _mbox(tmp_path / "x.mbox", NO_SENDER))
    [item] = _items(org)
    manager = _signed_in(app, MANAGER)
    html = manager.get("/admin/quarantine").get_data(as_text=True)
    assert "Who wrote this" in html and "(read-only)" in html
    assert ">Retry<" not in html and ">Discard<" not in html
    for action in ("retry", "discard"):
        assert _post(manager, f"/admin/quarantine/{item['id']}/{action}") == 403
    assert _items(org) == [item]


def test_each_sees_the_items_of_the_mailboxes_they_may_see(
        org: Cli, app: Flask, dovecot: DovecotServer) -> None:
    # Mail a mailbox quarantined is seen as that mailbox's mail is: Zhang Wei's manager
    # sees Wei's, not Maria's (another team); the admin, in no team, neither until the
    # organization shares everything. A mail over the size limit keeps only its header,
    # so Retry refuses to rebuild it and says what to do instead.
    for owner, subject in ((MARIA, "Maria canary"), (WEI, "Wei canary")):
        login = new_user(dovecot)
        dovecot.append(login, "INBOX", NO_SENDER.replace(b"Who wrote this", subject.encode()))
        if owner == WEI:
            dovecot.append(login, "INBOX", _mail("Large attachment", "x" * 3000))
        name = add_mailbox(org, dovecot, login, owner.split(".")[0], "--owner", owner)
        org("sync", "--mailbox", name, "--once", env={"CRMSYNC_MAX_MESSAGE_BYTES": "2000"})
    manager = _signed_in(app, MANAGER).get("/admin/quarantine").get_data(as_text=True)
    assert "Wei canary" in manager and "Maria canary" not in manager
    assert "exceeds the limit of 2000" in manager
    admin = _signed_in(app)
    assert "canary" not in admin.get("/admin/quarantine").get_data(as_text=True)
    maria_item = next(i for i in _items(org) if i["mailbox"] == "maria")
    assert _post(admin, f"/admin/quarantine/{maria_item['id']}/retry") == 404
    org("org", "set-sharing", "everyone")
    html = admin.get("/admin/quarantine").get_data(as_text=True)
    assert "Wei canary" in html and "Maria canary" in html
    large = next(i for i in _items(org) if "exceeds the limit" in i["reason"])
    assert _post(admin, f"/admin/quarantine/{large['id']}/retry") == 302
    assert HEADER_ONLY.split(":")[0] in admin.get("/admin/quarantine").get_data(
        as_text=True).replace("&#39;", "'")
    assert large in _items(org) and org.export_activities() == []
    sync(org, "wei")  # a later sync neither duplicates nor loses the items
    assert len(_items(org)) == 3


def test_in_chromium_an_admin_retries_an_item_and_finds_the_activity(
        org: Cli, browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Sign in, open Quarantine, read the reason, press Retry: the item is gone and the
    # mail is listed under Activities.
    _crash_mapping(monkeypatch, "matcher crashed")
    org("mail", "import", _mbox(tmp_path / "order.mbox", _mail("Renewal quote accepted")))
    monkeypatch.undo()
    with serve_console(org) as live, console_page(browser) as page:
        url = live.url
        sign_in_page(page, url)
        page.get_by_role("link", name="Quarantine").click()
        card = page.locator("section.quarantined")
        assert "crmsync failed on this mail" in card.locator(".reason").inner_text()
        assert "Renewal quote accepted" in card.locator("h3").inner_text()
        card.get_by_role("button", name="Retry").click()
        page.wait_for_url(f"{url}/admin/quarantine")
        assert page.locator("section.quarantined").count() == 0
        assert "Nothing is quarantined." in page.locator("main").inner_text()
        page.get_by_role("link", name="Activities").click()
        assert "Renewal quote accepted" in page.locator("table").inner_text()
