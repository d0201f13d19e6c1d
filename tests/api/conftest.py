"""Fixtures the API tests share: the sample CRM with its mailbox imported, and a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from crmsync.sync_service.web.app import create_app
from tests.conftest import SAMPLES, Cli, load_sample_crm


@pytest.fixture
def loaded(cli: Cli) -> Cli:
    """The sample organization with Maria's sample mailbox imported."""
    load_sample_crm(cli)
    cli("mail", "import", str(SAMPLES / "mailbox.mbox"))
    return cli


@pytest.fixture
def client(loaded: Cli) -> Iterator[FlaskClient]:
    """A test client of the app on that database (test_tokens.py brings its own)."""
    app = create_app({"TESTING": True, "DATABASE_URL": loaded.env["CRMSYNC_DATABASE_URL"]})
    yield app.test_client()
    app.extensions["crmsync"].dispose()
