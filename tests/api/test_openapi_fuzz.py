"""Schemathesis against the generated OpenAPI document: no input makes the API fail (B6),
on SQLite and on PostgreSQL (which refuses what SQLite takes: NUL characters, overlong
values)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from crmsync.sync_service.web.app import create_app
from tests.conftest import SAMPLES, Cli, load_sample_crm

_state: dict = {}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_schema(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'crmsync.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"fuzz{os.getpid()}")
    cli = Cli(url)
    cli("db", "upgrade")
    load_sample_crm(cli)
    cli("mail", "import", str(SAMPLES / "mailbox.mbox"))
    _state["key"] = cli("apikey", "create", "maria.lopez@northwind.example").output.strip()
    app = create_app({"TESTING": True, "DATABASE_URL": url,  # fuzzing, not rate limits
                      "RATE_LIMIT_PER_USER": "100000/minute",
                      "RATE_LIMIT_PER_IP": "100000/minute"})
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    app.extensions["crmsync"].dispose()


def _fuzz(operation, key: str) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def run(case) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
        response = case.call_and_validate(checks=[not_a_server_error])
        assert "Traceback" not in response.text
        if response.status_code >= 400:
            headers = {k.lower(): v for k, v in response.headers.items()}
            assert "application/json" in str(headers["content-type"])

    run()


def test_no_generated_request_gets_a_server_error(api_schema) -> None:
    # Whatever a signed-in client sends, the answer is a JSON 2xx/4xx, never a 5xx or a traceback.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        _fuzz(operation, _state["key"])
