"""Fixtures for the admin console: the sample CRM with console passwords, the app served
on loopback, and a real headless Chromium (the task pane's fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask

from crmsync.sync_service.web.app import create_app
from tests.addin.conftest import CHROMIUM_ARGS, browser, serve  # noqa: F401  (fixtures)
from tests.admin.console import PASSWORD
from tests.conftest import Cli, load_sample_crm

ADMIN = "olivia.admin@northwind.example"
REP = "maria.lopez@northwind.example"
AGENT = "sam.taylor@northwind.example"
MANAGER = "mike.chen@northwind.example"


@pytest.fixture
def org(cli: Cli) -> Cli:
    """The sample organization; its admin, a rep, an agent and a manager have passwords."""
    load_sample_crm(cli)
    cli("user", "add", MANAGER, "--name", "Mike Chen", "--role", "manager")
    for who in (ADMIN, REP, AGENT, MANAGER):
        cli("user", "add", who, "--password-env", "CONSOLE_PASSWORD",
            env={"CONSOLE_PASSWORD": PASSWORD})
    return cli


def console_app(cli: Cli, **config: object) -> Flask:
    return create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                       "SECRET_KEY": cli.env["CRMSYNC_SECRET_KEY"], **config})


@pytest.fixture
def app(org: Cli) -> Iterator[Flask]:
    app = console_app(org)
    yield app
    app.extensions["crmsync"].dispose()


@dataclass
class LiveConsole:
    url: str
    app: Flask
    cli: Cli


@pytest.fixture
def live(org: Cli) -> Iterator[LiveConsole]:
    """The console served on 127.0.0.1 (no scheduler: "Sync now" runs in a thread)."""
    app = console_app(org)
    url, stop = serve(app)
    yield LiveConsole(url, app, org)
    stop()
    app.extensions["crmsync"].dispose()


@pytest.fixture
def page(browser, live: LiveConsole) -> Iterator:  # noqa: F811
    """A fresh browser page that records dialogs (a script from mail text would open one)."""
    context = browser.new_context()
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def browser_sign_in(page, live: LiveConsole, email: str = ADMIN,
                    password: str = PASSWORD) -> None:
    page.goto(f"{live.url}/admin/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
