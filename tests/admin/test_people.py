"""The console's people pages: users and roles, API keys, the audit log.

Flask's test client drives the forms (each POST with the CSRF token its page gave) on
SQLite and PostgreSQL; Chromium checks that a hostile name stays text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crmsync.crm.audit import record
from crmsync.sync_service.web.app import create_app
from tests.admin.chromium import ADMIN, console_page, live_console, sign_in_page
from tests.admin.console import PASSWORD, csrf_token, post_form, sign_in
from tests.conftest import Cli, load_sample_crm

__all__ = ["live_console"]  # the fixture the Chromium test uses

MARIA = "maria.lopez@northwind.example"  # rep (samples/users.csv)
NINA = "nina.park@northwind.example"  # added by the tests
NEW_PASSWORD = "correct horse battery staple"
HOSTILE = "<img src=x onerror=alert(1)>"
KEY = re.compile(r"crm_[A-Za-z0-9_-]{20,}")
ERROR = re.compile(r'<p class="error" role="alert">(.*?)</p>', re.S)


@pytest.fixture
def console(cli: Cli) -> Iterator[Flask]:
    """The sample organization; its admin Olivia has a console password."""
    load_sample_crm(cli)
    cli("user", "add", ADMIN, "--password-env", "CONSOLE_PASSWORD",
        env={"CONSOLE_PASSWORD": PASSWORD})
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                      "SECRET_KEY": cli.env["CRMSYNC_SECRET_KEY"]})
    yield app
    app.extensions["crmsync"].dispose()


def signed_in(app: Flask, email: str = ADMIN, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email, password) == 302
    return client


def users_form(client: FlaskClient, url: str, data: dict[str, str]) -> tuple[int, str]:
    return post_form(client, url, data, form_page="/admin/users")


def user_row(client: FlaskClient, email: str) -> str:
    page = client.get("/admin/users").get_data(as_text=True)
    match = re.search(rf'<tr data-user="{re.escape(email)}">(.*?)</tr>', page, re.S)
    assert match, f"{email} is not listed"
    return match.group(1)


def add_with_password(admin: FlaskClient, email: str, role: str) -> None:
    assert users_form(admin, "/admin/users", {"email": email, "name": "Nina Park",
                                              "role": role, "team": "Ops"})[0] == 302
    assert users_form(admin, "/admin/users/password",
                      {"email": email, "password": NEW_PASSWORD})[0] == 302


def audit_rows(page: str) -> list[tuple[str, str]]:
    """The (actor, action) of each event the audit page lists, newest first."""
    return re.findall(r'<td data-label="Actor" class="actor">(.*?)</td>\s*'
                      r'<td data-label="Action" class="action">(.*?)</td>', page)


def issue_key(admin: FlaskClient, email: str = MARIA, days: str = "30") -> tuple[str, str]:
    status, page = post_form(admin, "/admin/keys", {"email": email, "days": days,
                                                    "label": "reports"}, "/admin/keys")
    assert status == 200, page
    keys = KEY.findall(page)
    assert len(keys) == 1, "the new key is shown exactly once"
    return keys[0], page


def test_a_user_added_and_given_a_password_signs_in(console: Flask) -> None:
    # An admin adds a colleague, gives them a password: the colleague is at the console.
    admin = signed_in(console)
    status, _ = users_form(admin, "/admin/users", {"email": "Nina.Park@northwind.example",
                                                   "name": "Nina Park", "role": "admin",
                                                   "team": "Ops"})
    assert status == 302
    row = user_row(admin, NINA)
    assert "Nina Park" in row and ">admin<" in row and "Ops" in row
    assert "no: no password set" in row
    status, page = users_form(admin, "/admin/users/password",
                              {"email": NINA, "password": "too short"})
    assert status == 400 and "at least 12 characters" in page
    assert users_form(admin, "/admin/users/password",
                      {"email": NINA, "password": NEW_PASSWORD})[0] == 302
    assert ">yes<" in user_row(admin, NINA)
    nina = signed_in(console, NINA, NEW_PASSWORD)
    assert nina.get("/admin/mailboxes").status_code == 200


def test_the_console_and_the_command_line_save_users_alike(console: Flask, cli: Cli) -> None:
    # A blank field keeps what the user has, as `crmsync user add` without that option.
    admin = signed_in(console)
    cli("user", "add", NINA, "--name", "Nina Park", "--role", "manager", "--team", "Ops")
    assert users_form(admin, "/admin/users", {"email": NINA, "name": "", "role": "",
                                              "team": ""})[0] == 302
    row = user_row(admin, NINA)
    assert "Nina Park" in row and ">manager<" in row and "Ops" in row
    status, page = users_form(admin, "/admin/users", {"email": "not an address"})
    assert status == 400 and "is not an email address" in page
    status, page = users_form(admin, "/admin/users", {"email": NINA, "name": "n" * 201})
    assert status == 400 and "at most 200 characters" in page


def test_a_rep_with_a_password_is_refused_at_sign_in(console: Flask) -> None:
    # Reps work in Outlook: a password does not open the console to them.
    admin = signed_in(console)
    add_with_password(admin, NINA, "rep")
    assert "no: only admins and managers" in user_row(admin, NINA)
    client = console.test_client()
    answer = client.post("/admin/login", data={"email": NINA, "password": NEW_PASSWORD,
                                               "csrf_token": csrf_token(client)})
    assert answer.status_code == 403
    assert "Only admins can use the console." in answer.get_data(as_text=True)
    assert client.get("/admin/mailboxes").status_code == 302


def _sign_in_error(app: Flask, email: str, password: str) -> tuple[int, str]:
    client = app.test_client()
    answer = client.post("/admin/login", data={"email": email, "password": password,
                                               "csrf_token": csrf_token(client)})
    errors = ERROR.findall(answer.get_data(as_text=True))
    return answer.status_code, errors[0] if errors else ""


def test_five_wrong_passwords_lock_until_an_admin_unlocks(console: Flask) -> None:
    # After 5 wrong passwords even the right one fails, exactly as for an unknown address;
    # the users page says until when, and an admin's Unlock lets them in at once.
    admin = signed_in(console)
    add_with_password(admin, NINA, "admin")
    for _ in range(5):
        assert _sign_in_error(console, NINA, "wrong password, again")[0] == 401
    locked = _sign_in_error(console, NINA, NEW_PASSWORD)
    unknown = _sign_in_error(console, "nobody@northwind.example", NEW_PASSWORD)
    assert locked == unknown and locked[0] == 401 and "wrong" in locked[1]
    row = user_row(admin, NINA)
    assert re.search(r"\d{4}-\d\d-\d\dT", row) and "Unlock" in row
    assert users_form(admin, "/admin/users/unlock", {"email": NINA})[0] == 302
    assert "Unlock" not in user_row(admin, NINA)
    assert signed_in(console, NINA, NEW_PASSWORD).get("/admin/users").status_code == 200


def test_an_issued_key_is_shown_once_works_and_stops_when_revoked(console: Flask) -> None:
    # The key is on the answer to "Issue key" only; it opens the API until revoked.
    admin = signed_in(console)
    key, page = issue_key(admin)
    assert "shown only this once" in page
    listing = admin.get("/admin/keys").get_data(as_text=True)
    assert key not in listing and MARIA in listing and "reports" in listing
    api = console.test_client()
    lookup = "/api/v1/lookup?address=ana.ruiz@acme.example"
    answer = api.get(lookup, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and answer.json["contact"]["external_id"] == "c-1"
    key_id = re.search(r'<tr data-key="(\d+)">', listing).group(1)
    status, _ = post_form(admin, f"/admin/keys/{key_id}/revoke", {}, "/admin/keys")
    assert status == 302
    assert api.get(lookup, headers={"Authorization": f"Bearer {key}"}).status_code == 401
    row = re.search(rf'<tr data-key="{key_id}">(.*?)</tr>',
                    admin.get("/admin/keys").get_data(as_text=True), re.S).group(1)
    assert "revoked" in row and "Revoke" not in row
    assert post_form(admin, "/admin/keys/99999/revoke", {}, "/admin/keys")[0] == 404


def test_a_key_never_expiring_and_bad_lifetimes(console: Flask) -> None:
    # 0 days: a key that never expires; a lifetime the CLI would refuse is refused here.
    admin = signed_in(console)
    issue_key(admin, days="0")
    assert "never" in admin.get("/admin/keys").get_data(as_text=True)
    for days in ("3651", "-1", "soon", ""):
        status, page = post_form(admin, "/admin/keys", {"email": MARIA, "days": days},
                                 "/admin/keys")
        assert status == 400 and "number of days" in page and not KEY.search(page)
    status, page = post_form(admin, "/admin/keys", {"email": "ghost@northwind.example",
                                                    "days": "1"}, "/admin/keys")
    assert status == 400 and "no CRM user" in page


def test_the_audit_log_names_each_action_and_actor_but_no_secret(console: Flask,
                                                                   cli: Cli) -> None:
    # Every change above leaves a row with Olivia as actor; no key, no password anywhere.
    admin = signed_in(console)
    add_with_password(admin, NINA, "admin")
    assert users_form(admin, "/admin/users/unlock", {"email": NINA})[0] == 302
    key, _ = issue_key(admin)
    post_form(admin, "/admin/keys/1/revoke", {}, "/admin/keys")
    page = admin.get("/admin/audit").get_data(as_text=True)
    rows = audit_rows(page)
    for action in ("user.add", "user.set_password", "user.unlock", "apikey.create",
                   "apikey.revoke", "console.sign_in"):
        assert (ADMIN, action) in rows, action
    cli_log = cli("audit", "list").output
    events = [json.loads(line) for line in cli_log.splitlines()]
    created = events[1]  # newest first: the revocation, then the key
    assert (created["actor"], created["action"], created["target"]) == (
        ADMIN, "apikey.create", MARIA)
    for text in (page, cli_log):
        assert key not in text and NEW_PASSWORD not in text and PASSWORD not in text
    only_keys = audit_rows(admin.get("/admin/audit?action=apikey.").get_data(as_text=True))
    assert [action for _, action in only_keys] == ["apikey.revoke", "apikey.create"]


def test_the_audit_log_pages_back_and_refuses_oversized_queries(console: Flask,
                                                                 cli: Cli) -> None:
    # 60 events: the newest 50, then "Older" shows the rest; a hostile query gets 400.
    with cli.session() as session:
        for n in range(60):
            record(session, "cli:test", "test.event", f"number-{n:02d}", "cli")
        session.commit()
    admin = signed_in(console)
    first = admin.get("/admin/audit?action=test.").get_data(as_text=True)
    assert "number-59" in first and "number-10" in first and "number-09" not in first
    older = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = admin.get(older).get_data(as_text=True)
    assert "number-09" in second and "number-00" in second and "number-10" not in second
    assert 'rel="next"' not in second
    # a wildcard is a character like any other, not "every action"
    assert "No events." in admin.get("/admin/audit?action=%25.").get_data(as_text=True)
    for query in ("action=" + "a" * 101, "before=abc", "before=" + "9" * 19,
                  "action=x&junk=" + "j" * 400):
        assert admin.get(f"/admin/audit?{query}").status_code == 400, query


def test_the_last_admin_cannot_demote_themselves(console: Flask, cli: Cli) -> None:
    # Olivia is the only admin: making herself a manager would leave the console to nobody.
    admin = signed_in(console)
    status, page = users_form(admin, "/admin/users", {"email": ADMIN, "role": "manager"})
    assert status == 409 and "You are the last admin" in page
    assert ">admin<" in user_row(admin, ADMIN)
    refused = cli("user", "add", ADMIN, "--role", "rep", ok=False)
    assert refused.exit_code != 0 and "last admin" in refused.output
    cli("user", "add", NINA, "--role", "admin")
    assert users_form(admin, "/admin/users", {"email": ADMIN, "role": "manager"})[0] == 302
    assert admin.get("/admin/users").status_code == 200  # a manager now: read-only
    assert users_form(admin, "/admin/users", {"email": ADMIN, "role": "admin"})[0] == 403


CHANGES = {
    "/admin/users": {"email": NINA, "role": "admin"},
    "/admin/users/password": {"email": MARIA, "password": NEW_PASSWORD},
    "/admin/users/unlock": {"email": MARIA},
    "/admin/keys": {"email": MARIA, "days": "1"},
    "/admin/keys/1/revoke": {},
}


def test_managers_look_and_forms_without_a_token_change_nothing(console: Flask,
                                                                 cli: Cli) -> None:
    # A manager sees users and keys but changes nothing; a POST without the CSRF token
    # (a replayed or forged form) changes nothing either; only admins read the audit log.
    cli("user", "add", "mike.chen@northwind.example", "--role", "manager",
        "--password-env", "P", env={"P": PASSWORD})
    cli("apikey", "create", MARIA)
    manager = signed_in(console, "mike.chen@northwind.example")
    admin = signed_in(console)
    for url in ("/admin/users", "/admin/keys"):
        page = manager.get(url).get_data(as_text=True)
        assert MARIA in page and "Issue key" not in page and "Set password" not in page
    assert manager.get("/admin/audit").status_code == 403
    before = cli("audit", "list").output
    for url, data in CHANGES.items():
        assert post_form(manager, url, data, "/admin/users")[0] == 403, url
        assert admin.post(url, data=data).status_code == 400, url
    assert cli("audit", "list").output == before
    assert "no: only admins and managers" in user_row(admin, MARIA)
    assert "revoked" not in admin.get("/admin/keys").get_data(as_text=True)


def test_a_hostile_user_name_is_inert_in_chromium(browser, live_console) -> None:
    # A name that is markup shows as text: no image, no script, no dialog.
    with console_page(browser) as page:
        sign_in_page(page, live_console.url)
        page.goto(live_console.url + "/admin/users")
        page.locator("#user-email").fill(NINA)
        page.locator("#user-name").fill(HOSTILE)
        page.locator("#user-team").fill(HOSTILE)
        page.locator("form[action='/admin/users'] button[type=submit]").click()
        page.wait_for_url("**/admin/users")
        row = page.locator(f'tr[data-user="{NINA}"]')
        assert row.locator("td.name").inner_text() == HOSTILE
        page.goto(live_console.url + "/admin/keys")
        page.locator("#key-user").select_option(NINA)
        page.locator("#key-label").fill(HOSTILE)
        page.locator("form[action='/admin/keys'] button[type=submit]").click()
        assert page.locator("#new-key").inner_text().startswith("crm_")
        for url in ("/admin/users", "/admin/keys", "/admin/audit"):
            page.goto(live_console.url + url)
            assert page.locator("main img").count() == 0, url
            assert HOSTILE in page.locator("main").inner_text(), url
        assert page.dialogs == []
