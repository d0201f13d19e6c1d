"""Console sign-in: who gets in, lockout without account enumeration, the session cookie,
CSRF on every form, managers read-only, and the security headers (RELIABILITY A4, A5, A7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from crmsync.crm.models import User
from crmsync.crm.sign_in import LOCK_AFTER
from tests.admin.conftest import ADMIN, AGENT, MANAGER, REP, browser_sign_in, console_app
from tests.admin.console import PASSWORD, csrf_token, sign_in
from tests.conftest import Cli

FAILED = "The email or password is wrong, or the account is locked"


def test_an_admin_signs_in_and_out(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/admin/mailboxes").headers["Location"] == "/admin/login"
    assert sign_in(client, ADMIN) == 302
    page = client.get("/admin/mailboxes")
    assert page.status_code == 200 and "Signed in as olivia.admin@northwind.example" in \
        page.get_data(as_text=True)
    cookie = client.get_cookie("crmsync_console", path="/admin")
    assert cookie.secure and cookie.http_only and cookie.same_site == "Strict"
    copied = app.test_client()  # the same cookie in another browser (or a thief's)
    copied.set_cookie("crmsync_console", cookie.value, path="/admin")
    assert copied.get("/admin/mailboxes").status_code == 200
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/mailboxes")})
    assert client.get("/admin/mailboxes").status_code == 302
    assert copied.get("/admin/mailboxes").status_code == 302  # signing out ends it too


def test_wrong_password_unknown_address_and_lockout_read_the_same(app: Flask, org: Cli) -> None:
    answers = []
    for email, password in ((ADMIN, "not the password"), ("nobody@northwind.example", PASSWORD)):
        client = app.test_client()
        answer = client.post("/admin/login", data={
            "email": email, "password": password, "csrf_token": csrf_token(client)})
        answers.append((answer.status_code, FAILED in answer.get_data(as_text=True)))
    assert answers == [(401, True), (401, True)]
    client = app.test_client()
    for _ in range(LOCK_AFTER - 1):  # one wrong answer above already
        assert sign_in(client, ADMIN, "still not it") == 401
    # Locked: the right password fails as an unknown address does, until the lock ends.
    answer = client.post("/admin/login", data={
        "email": ADMIN, "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert answer.status_code == 401 and FAILED in answer.get_data(as_text=True)
    with org.session() as session:
        user = session.scalars(select(User).where(User.email == ADMIN)).one()
        assert user.locked_until > datetime.now(UTC) + timedelta(minutes=10)
        user.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    assert sign_in(app.test_client(), ADMIN) == 302
    audit = org("audit", "list").output
    assert audit.count('"console.sign_in_failed"') == LOCK_AFTER + 2
    assert "nobody@northwind.example" not in audit and PASSWORD not in audit


def test_reps_and_agents_are_refused_and_managers_only_look(app: Flask) -> None:
    for who in (REP, AGENT):
        client = app.test_client()
        answer = client.post("/admin/login", data={
            "email": who, "password": PASSWORD, "csrf_token": csrf_token(client)})
        assert answer.status_code == 403
        assert "Only admins can use the console." in answer.get_data(as_text=True)
        assert client.get("/admin/mailboxes").status_code == 302
    manager = app.test_client()
    assert sign_in(manager, MANAGER) == 302
    page = manager.get("/admin/mailboxes").get_data(as_text=True)
    assert "(read-only)" in page and "Add mailbox" not in page
    answer = manager.post("/admin/mailboxes/new", data={
        "name": "x", "csrf_token": csrf_token(manager, "/admin/mailboxes")})
    assert answer.status_code == 403


def test_a_demoted_admin_loses_the_console_at_once(app: Flask, org: Cli) -> None:
    client = app.test_client()
    sign_in(client, ADMIN)
    org("user", "add", "second.admin@northwind.example", "--role", "admin")  # not the last
    org("user", "add", ADMIN, "--role", "rep")
    assert client.get("/admin/mailboxes").status_code == 302


def test_forms_without_their_token_or_from_elsewhere_change_nothing(app: Flask,
                                                                    org: Cli) -> None:
    client = app.test_client()
    sign_in(client, ADMIN)
    form = {"name": "sneaky", "provider": "imap", "host": "imap.example.com", "port": "993",
            "security": "ssl", "username": "u", "password": "p", "purpose": "personal"}
    assert client.post("/admin/mailboxes/new", data=form).status_code == 400
    token = csrf_token(client, "/admin/mailboxes")
    replayed = app.test_client()  # another browser replays the form with the token
    assert replayed.post("/admin/mailboxes/new", data={**form, "csrf_token": token}
                         ).status_code == 400
    elsewhere = client.post("/admin/mailboxes/new", data={**form, "csrf_token": token},
                            headers={"Origin": "http://attacker.example"})
    assert elsewhere.status_code == 400
    assert org("mailbox", "list", "--json").output == ""


def test_sign_in_attempts_are_limited_per_address(org: Cli) -> None:
    app = console_app(org)
    try:
        client = app.test_client()
        statuses = [client.post("/admin/login", data={
            "email": f"guess{n}@northwind.example", "password": "x",
            "csrf_token": csrf_token(client)}).status_code for n in range(12)]
        assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    finally:
        app.extensions["crmsync"].dispose()


def test_every_console_page_sends_the_security_headers(app: Flask) -> None:
    client = app.test_client()
    pages = ["/admin/login"]
    sign_in(client, ADMIN)
    pages += [str(rule) for rule in app.url_map.iter_rules()
              if str(rule).startswith("/admin") and "GET" in rule.methods
              and "<" not in str(rule) and "static" not in rule.endpoint
              and "microsoft" not in str(rule)]
    for url in pages:
        answer = client.get(url)
        assert answer.status_code in (200, 302), url
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy, url
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


def test_in_chromium_a_wrong_password_and_a_rep_are_refused_an_admin_gets_in(page, live
                                                                             ) -> None:
    page.goto(f"{live.url}/admin/login")
    for email, password, message in (
            (ADMIN, "not the password", FAILED),
            (REP, PASSWORD, "Only admins can use the console.")):
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        assert message in page.get_by_role("alert").inner_text()
        assert page.url.endswith("/admin/login")
    browser_sign_in(page, live)
    assert page.get_by_role("heading", name="Mailboxes").is_visible()


def test_plain_http_to_another_host_says_sign_in_needs_https(app: Flask) -> None:
    # Browsers keep the Secure cookie over http only for this machine: elsewhere the
    # sign-in page says why signing in cannot work instead of failing without a word.
    remote = app.test_client().get("/admin/login", base_url="http://crm.example.com")
    assert "Open the console over https" in remote.get_data(as_text=True)
    for base in ("https://crm.example.com", "http://localhost", "http://127.0.0.1"):
        page = app.test_client().get("/admin/login", base_url=base).get_data(as_text=True)
        assert "needs-https" not in page, base
