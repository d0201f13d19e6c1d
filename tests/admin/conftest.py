"""Fixtures for the admin console: the sample CRM with console passwords, the app served
on loopback, and a page in the session's headless Chromium (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from crmsync.sync_service.web.app import create_app
from tests.admin.chromium import ADMIN, LiveConsole, console_page, serve_console, sign_in_page
from tests.admin.console import PASSWORD
from tests.conftest import Cli, load_sample_crm

REP = "maria.lopez@northwind.example"
AGENT = "sam.taylor@northwind.example"
MANAGER = "mike.chen@northwind.example"


@pytest.fixture
def org(cli: Cli) -> Cli:
    """The sample organization; its admin, a rep, an agent and a manager have passwords."""
    load_sample_crm(cli)
    cli("user", "add", MANAGER, "--name", "Mike Chen", "--role", "manager", "--team",
        "Sales APAC")
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


@pytest.fixture
def live(org: Cli) -> Iterator[LiveConsole]:
    """The console served on 127.0.0.1 (no scheduler: "Sync now" runs in a thread)."""
    with serve_console(org) as live:
        yield live


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh browser page that records dialogs (a script from mail text would open one)."""
    with console_page(browser) as page:
        yield page


def browser_sign_in(page, live: LiveConsole, email: str = ADMIN,
                    password: str = PASSWORD) -> None:
    sign_in_page(page, live.url, email, password)
