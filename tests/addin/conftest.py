"""Fixtures for the task pane: the app served on loopback and a real headless Chromium."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from crmsync.sync_service.web.app import create_app
from tests.conftest import SAMPLES, Cli, load_sample_crm

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


#: the session's one Playwright and Chromium, and how many fixture instances use them
_CHROMIUM: dict[str, Any] = {"users": 0}


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Debian's Chromium driven by Playwright; a missing browser fails, never skips.

    Other directories import this fixture into their conftest (tests/admin): each import
    is a fixture of its own to pytest, but Playwright's sync API runs once per thread, so
    they all share one browser, closed when the last of them ends.
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)")
    if not _CHROMIUM["users"]:
        playwright = sync_playwright().start()
        _CHROMIUM.update(playwright=playwright, browser=playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS))
    _CHROMIUM["users"] += 1
    try:
        yield _CHROMIUM["browser"]
    finally:
        _CHROMIUM["users"] -= 1
        if not _CHROMIUM["users"]:
            _CHROMIUM["browser"].close()
            _CHROMIUM["playwright"].stop()


@dataclass
class LiveApp:
    url: str
    app: Flask
    cli: Cli


@pytest.fixture
def sample_cli(sqlite_url: str) -> Cli:
    """The sample CRM and mailbox in a fresh SQLite database."""
    cli = Cli(sqlite_url)
    cli("db", "upgrade")
    load_sample_crm(cli)
    cli("mail", "import", str(SAMPLES / "mailbox.mbox"))
    return cli


def serve(app: Flask) -> tuple[str, callable]:
    """Serve ``app`` on a free loopback port in a thread; return its URL and a stopper."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return f"http://127.0.0.1:{server.server_port}", stop


@pytest.fixture
def live(sample_cli: Cli) -> Iterator[LiveApp]:
    """crmsync with ``CRMSYNC_DEMO=1`` (the preview page) served on 127.0.0.1."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test-key", "DEMO": True,
                      "DATABASE_URL": sample_cli.env["CRMSYNC_DATABASE_URL"]})
    url, stop = serve(app)
    yield LiveApp(url, app, sample_cli)
    stop()
    app.extensions["crmsync"].dispose()


@pytest.fixture
def page(browser, live: LiveApp) -> Iterator:
    """A fresh browser page that records dialogs and CSP violations."""
    context = browser.new_context()
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()
