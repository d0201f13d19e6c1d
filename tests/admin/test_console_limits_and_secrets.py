"""RELIABILITY A7 and S3 at the console: Test connection is limited per admin, and no
console page ever shows a stored credential."""

from __future__ import annotations

from flask import Flask

from tests.admin.conftest import ADMIN
from tests.admin.console import PASSWORD, csrf_token, sign_in
from tests.conftest import Cli
from tests.engine.mailboxes import add_mailbox
from tests.servers.dovecot import DovecotServer, new_user


def test_test_connection_is_limited_to_five_a_minute_per_admin(app: Flask, org: Cli) -> None:
    client = app.test_client()
    sign_in(client, ADMIN)
    token = csrf_token(client, "/admin/mailboxes/new")
    statuses = [client.post("/admin/mailboxes/test", data={
        "csrf_token": token, "name": "x", "provider": "imap"}) for _ in range(6)]
    assert [s.status_code for s in statuses] == [400] * 5 + [429]
    assert int(statuses[-1].headers["Retry-After"]) > 0
    # Another admin's budget is their own: the limit follows the person, not the route.
    org("user", "add", "second.admin@northwind.example", "--role", "admin", "--password-env",
        "PW", env={"PW": PASSWORD})
    other = app.test_client()
    sign_in(other, "second.admin@northwind.example")
    assert other.post("/admin/mailboxes/test", data={
        "csrf_token": csrf_token(other, "/admin/mailboxes/new"), "name": "x"}
        ).status_code == 400


def test_no_console_page_shows_a_stored_password(app: Flask, org: Cli,
                                                 dovecot: DovecotServer) -> None:
    user = new_user(dovecot, password="canary-Pa55word-7f3e")
    org("mailbox", "add", "imap", "canary-box", "--host", dovecot.host, "--port",
        str(dovecot.port), "--security", "none", "--username", user, "--password-env", "PW",
        env={"PW": "canary-Pa55word-7f3e"})
    add_mailbox(org, dovecot, new_user(dovecot), "plain-box")
    client = app.test_client()
    sign_in(client, ADMIN)
    client.post("/admin/mailboxes/1/sync", data={
        "csrf_token": csrf_token(client, "/admin/mailboxes")})
    pages = [str(rule) for rule in app.url_map.iter_rules()
             if str(rule).startswith("/admin") and "GET" in rule.methods
             and "static" not in rule.endpoint and "microsoft" not in str(rule)]
    pages = [p.replace("<int:mailbox_id>", "1") for p in pages if "<" not in p
             or "<int:mailbox_id>" in p]
    shown = ""
    for url in pages:
        answer = client.get(url)
        assert answer.status_code in (200, 302), url
        shown += answer.get_data(as_text=True)
    assert "canary-box" in shown
    assert "canary-Pa55word-7f3e" not in shown
