"""Fixtures for the task pane: the app served on loopback (the headless Chromium, one for
the whole session, is tests/conftest.py's ``browser``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from werkzeug.serving import make_server

from crmsync.sync_service.web.app import create_app
from tests.conftest import SAMPLES, Cli, load_sample_crm


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
