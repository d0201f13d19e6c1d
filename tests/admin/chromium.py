"""The console in a real Chromium: crmsync served on loopback, and pages that record dialogs.

Test modules import ``live_console`` from here; ``browser`` (one Debian Chromium for the
session) is tests/conftest.py's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from crmsync.sync_service.web.app import create_app
from tests.addin.conftest import serve
from tests.admin.console import PASSWORD
from tests.conftest import Cli, load_sample_crm

__all__ = ["ADMIN", "LiveConsole", "console_page", "live_console", "serve_console",
           "sign_in_page"]

#: the sample organization's admin (samples/users.csv), given the console password
ADMIN = "olivia.admin@northwind.example"


@dataclass
class LiveConsole:
    url: str
    app: Flask
    cli: Cli


@contextmanager
def serve_console(cli: Cli, **config: object) -> Iterator[LiveConsole]:
    """crmsync on ``cli``'s database, served on 127.0.0.1 until the block ends."""
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                      "SECRET_KEY": cli.env["CRMSYNC_SECRET_KEY"], **config})
    url, stop = serve(app)
    try:
        yield LiveConsole(url, app, cli)
    finally:
        stop()
        app.extensions["crmsync"].dispose()


@pytest.fixture
def live_console(tmp_path: Path) -> Iterator[LiveConsole]:
    """The sample organization in SQLite, its admin with a console password, served."""
    cli = Cli(f"sqlite:///{tmp_path / 'crmsync.db'}")
    cli("db", "upgrade")
    load_sample_crm(cli)
    cli("user", "add", ADMIN, "--password-env", "CONSOLE_PASSWORD",
        env={"CONSOLE_PASSWORD": PASSWORD})
    with serve_console(cli) as live:
        yield live


@contextmanager
def console_page(browser, locale: str = "en-US", width: int = 1440) -> Iterator:
    """A fresh browser context (its own cookies) and page; ``page.dialogs`` lists every
    dialog that opened (each dismissed), which no console page may ever open."""
    context = browser.new_context(locale=locale, viewport={"width": width, "height": 800})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    try:
        yield page
    finally:
        context.close()


def sign_in_page(page, url: str, email: str = ADMIN, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would (fields by id: any language)."""
    page.goto(url + "/admin/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("form[action='/admin/login'] button[type=submit]").click()
    page.wait_for_url("**/admin/mailboxes")


def mailbox_card(page, name: str):
    """The mailboxes page's card of mailbox ``name``."""
    return page.locator(f"section.mailbox[data-mailbox='{name}']")


def wait_for_status(page, name: str, word: str, timeout: float = 30) -> None:
    """Reload the mailboxes page until mailbox ``name`` shows the status ``word``."""
    deadline = time.monotonic() + timeout
    while word not in mailbox_card(page, name).locator("[data-status]").inner_text():
        assert time.monotonic() < deadline, f"{name} never showed {word!r}"
        time.sleep(0.3)
        page.reload()
