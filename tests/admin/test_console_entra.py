"""The console's Microsoft round trips, in Chromium against the Graph/Entra double:
"Sign in with Microsoft", admin consent, and re-authenticating a delegated mailbox."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from crmsync.crm.audit import AuditEvent
from crmsync.crm.models import User
from crmsync.sync_service.context import Services
from tests.admin.chromium import serve_console
from tests.admin.console import PASSWORD
from tests.conftest import Cli, load_sample_crm, make_services
from tests.fakes import graph_fixtures
from tests.fakes.graph_builders import message
from tests.fakes.graph_directory import object_id_of
from tests.fakes.graph_fixtures import unique
from tests.fakes.graph_server import GraphDouble
from tests.fakes.graph_signin import BrowserUser
from tests.graph.test_graph_accounts import add_delegated, stored_secret
from tests.graph.test_graph_sync import _mailboxes, inbox, mail_ids, sync

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph

OLIVIA = "olivia.admin@northwind.example"  # admin
MARIA = "maria.lopez@northwind.example"  # rep
OTHER_TENANT = "fabrikam-tenant-id"


@dataclass
class Console:
    url: str
    app: Flask
    cli: Cli
    path: Path


@pytest.fixture
def console(sqlite_url: str, graph: GraphDouble) -> Iterator[Console]:
    """crmsync served on 127.0.0.1 with "Sign in with Microsoft" at the double's tenant."""
    cli = Cli(sqlite_url)
    cli("db", "upgrade")
    load_sample_crm(cli)
    cli("user", "add", OLIVIA, "--password-env", "CONSOLE_PASSWORD",
        env={"CONSOLE_PASSWORD": PASSWORD})
    client_id = unique("console-")
    graph.register_app(client_id, secret="console-secret")
    with serve_console(cli, CONSOLE_ENTRA_CLIENT_ID=client_id,
                       CONSOLE_ENTRA_CLIENT_SECRET="console-secret",
                       CONSOLE_ENTRA_TENANT=graph.tenant,
                       CONSOLE_ENTRA_AUTHORITY_HOST=graph.base_url) as live:
        yield Console(live.url, live.app, cli, Path(sqlite_url.removeprefix("sqlite:///")))


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh Chromium page that trusts the double's TLS certificate and records the
    console's messages (CSP violations show there)."""
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.messages = []
    page.on("console", lambda m: page.messages.append(m.text))
    yield page
    context.close()


def _microsoft_sign_in(page, console: Console) -> None:
    page.goto(f"{console.url}/admin/login")
    page.get_by_role("link", name="Sign in with Microsoft").click()
    page.wait_for_load_state()


def _password_sign_in(page, console: Console) -> None:
    page.goto(f"{console.url}/admin/login")
    page.get_by_label("Email").fill(OLIVIA)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{console.url}/admin/mailboxes")


def _signed_out(page, console: Console) -> bool:
    page.goto(f"{console.url}/admin/mailboxes")
    return page.url == f"{console.url}/admin/login"


def _identity(console: Console, email: str) -> tuple[str | None, str | None]:
    with console.cli.session() as db:
        user = db.scalars(select(User).where(User.email == email)).one()
        return user.entra_tenant_id, user.entra_object_id


def _audit(console: Console, action: str) -> list[AuditEvent]:
    with console.cli.session() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_an_admin_signs_in_with_microsoft_and_is_bound(page, console, graph) -> None:
    # Olivia's first Microsoft sign-in binds her Entra identity and opens the mailboxes.
    graph.signin.user = BrowserUser(OLIVIA)
    _microsoft_sign_in(page, console)
    page.wait_for_url(f"{console.url}/admin/mailboxes")
    assert f"Signed in as {OLIVIA}" in page.inner_text("header")
    assert _identity(console, OLIVIA) == (graph.tenant, object_id_of(graph, OLIVIA))
    [event] = _audit(console, "console.sign_in")
    assert event.actor == OLIVIA and event.detail == {"method": "entra"}
    assert not [m for m in page.messages if "Content Security Policy" in m]


def _bind(console: Console, email: str, tenant: str, object_id: str) -> None:
    with console.cli.session() as db:
        user = db.scalars(select(User).where(User.email == email)).one()
        user.entra_tenant_id, user.entra_object_id = tenant, object_id
        db.commit()


def test_the_bound_identity_signs_in_even_under_a_new_address(page, console, graph) -> None:
    # Bound by tid+oid, Olivia still gets in after her sign-in name changed.
    object_id = object_id_of(graph, OLIVIA)
    _bind(console, OLIVIA, graph.tenant, object_id)
    graph.signin.user = BrowserUser("o.admin@northwind.example", object_id=object_id)
    _microsoft_sign_in(page, console)
    page.wait_for_url(f"{console.url}/admin/mailboxes")
    assert f"Signed in as {OLIVIA}" in page.inner_text("header")


def test_an_address_bound_to_another_identity_is_refused(page, console, graph) -> None:
    # A new account that took over Olivia's address does not get her bound console.
    _bind(console, OLIVIA, graph.tenant, object_id_of(graph, OLIVIA))
    graph.signin.user = BrowserUser(OLIVIA, object_id="0b0b0b0b-1111-4222-8333-444444444444")
    _microsoft_sign_in(page, console)
    assert "No crmsync user has this Microsoft account" in page.inner_text("[role=alert]")
    assert _signed_out(page, console)


def test_a_user_of_another_tenant_is_refused(page, console, graph) -> None:
    # Olivia's address in another organization's directory opens nothing and binds nothing.
    graph.signin.user = BrowserUser(OLIVIA, tenant=OTHER_TENANT)
    _microsoft_sign_in(page, console)
    assert "belongs to another organization" in page.inner_text("[role=alert]")
    assert _signed_out(page, console)
    assert _identity(console, OLIVIA) == (None, None)
    [event] = _audit(console, "console.sign_in_failed")
    assert event.detail == {"method": "entra", "reason": "tenant"}
    assert OLIVIA not in event.actor


def test_a_rep_is_refused(page, console, graph) -> None:
    # Maria (a rep) signs in with Microsoft: the console stays closed to her.
    graph.signin.user = BrowserUser(MARIA)
    _microsoft_sign_in(page, console)
    assert "Only admins can use the console." in page.inner_text("[role=alert]")
    assert _signed_out(page, console)


def test_a_forged_or_missing_state_is_refused(console, graph) -> None:
    # An answer that is not this browser's sign-in gets 400 and no session.
    graph.signin.user = BrowserUser(OLIVIA)
    client = console.app.test_client()
    started = client.get("/admin/login/microsoft")
    assert started.status_code == 302
    assert started.location.startswith(f"{graph.base_url}/{graph.tenant}/oauth2/v2.0/authorize")
    forged = client.get("/admin/login/microsoft/return?code=stolen&state=forged")
    assert forged.status_code == 400
    assert client.get("/admin/mailboxes").status_code == 302  # to the sign-in page
    assert client.get("/admin/login/microsoft/return?code=stolen").status_code == 400
    # Without the session (another browser): one reload from the console, then 400.
    stranger = console.app.test_client()
    first = stranger.get("/admin/login/microsoft/return?code=stolen&state=guessed")
    assert first.status_code == 200 and "Set-Cookie" not in first.headers
    reload = re.search(r'content="0; url=([^"]+)"', first.get_data(as_text=True)).group(1)
    assert stranger.get(reload.replace("&amp;", "&")).status_code == 400
    assert not _audit(console, "console.sign_in")


def _add_form_consent(page, console: Console, client_id: str, tenant: str) -> None:
    _password_sign_in(page, console)
    page.goto(f"{console.url}/admin/mailboxes/new")
    page.get_by_label("Tenant").fill(tenant)
    page.get_by_label("Client ID").fill(client_id)
    page.get_by_role("button", name="Grant admin consent").click()
    page.wait_for_selector("#outcome")


def test_admin_consent_round_trip_says_granted(page, console, graph) -> None:
    # From the add form, the tenant's admin consents; the console says so.
    client_id = unique("app-")
    graph.register_app(client_id, secret="s3cret")
    _add_form_consent(page, console, client_id, graph.tenant)
    assert page.inner_text("#outcome") == f"Consent granted for tenant {graph.tenant}."
    # Back from Microsoft's site without the SameSite=Strict cookie: one reload brought it.
    assert page.url.startswith(f"{console.url}/admin/microsoft365/consent/return?")
    assert "bounced=1" in page.url
    assert (graph.tenant, client_id) in graph.signin.consents
    assert [e.target for e in _audit(console, "microsoft365.consent_granted")] == [graph.tenant]
    assert not [m for m in page.messages if "Content Security Policy" in m]


def test_declined_admin_consent_says_what_to_do(page, console, graph) -> None:
    # The administrator declines: the console says it was not granted and who can grant it.
    client_id = unique("app-")
    graph.register_app(client_id, secret="s3cret")
    graph.signin.consent_error = "access_denied"
    _add_form_consent(page, console, client_id, graph.tenant)
    outcome = page.inner_text("#outcome")
    assert outcome.startswith(f"Consent was not granted for tenant {graph.tenant}.")
    assert "access_denied" in outcome
    assert "Global Administrator" in page.inner_text(".next-step")
    assert (graph.tenant, client_id) not in graph.signin.consents


@pytest.fixture
def delegated(console: Console, graph: GraphDouble) -> Iterator[tuple[str, str]]:
    """A delegated mailbox (device code) whose user then revoked consent: a sync marks it
    "needs re-auth". Yields its name and address."""
    client_id = unique("public-")
    graph.register_app(client_id)
    name, address, _ = add_delegated(console.cli, graph, client_id)
    graph.directory.auto_approve = None
    graph.directory.revoke_user(graph, address)
    sync(console.cli, graph, name, ok=False)
    assert {r["name"]: r["status"] for r in _mailboxes(console.cli)}[name] == "needs re-auth"
    yield name, address


def test_a_delegated_mailbox_is_re_authenticated_in_the_browser(
        page, console, graph, delegated) -> None:
    # The admin presses Re-authenticate, the mailbox's user signs in, and syncing works again.
    name, address = delegated
    services: Services = make_services(f"sqlite:///{console.path}")
    try:
        before, _ = stored_secret(services, name)
        _password_sign_in(page, console)
        card = page.locator(f'section[data-mailbox="{name}"]')
        card.get_by_role("button", name="Re-authenticate").click()
        page.wait_for_selector("text=Mailbox re-authenticated")
        assert page.url.startswith(f"{console.url}/admin/mailboxes/")
        assert graph.signin.authorize_requests[-1]["login_hint"] == address
        sealed, cache = stored_secret(services, name)
    finally:
        services.dispose()
    assert sealed != before
    refresh = [v["secret"] for v in json.loads(cache)["RefreshToken"].values()]
    assert refresh and set(refresh) <= set(graph.directory.refresh_tokens)
    database = console.path.read_bytes()
    assert all(token.encode() not in sealed + database for token in refresh)  # sealed only
    assert {e.target for e in _audit(console, "mailbox.reauthenticated")} == {name}
    assert {e.target for e in _audit(console, "mailbox.reauth_started")} == {name}
    inbox(graph, address, message(1501))
    assert "ok" in sync(console.cli, graph, name)
    assert "<graph1501@test.example>" in mail_ids(console.cli)
    assert not [m for m in page.messages if "Content Security Policy" in m]
