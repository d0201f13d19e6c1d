"""Secrets never reach a log line; addresses only at DEBUG; `serve` is a production server."""

from __future__ import annotations

import io
import logging
import urllib.request
from pathlib import Path

import pytest

from crmsync.sync_service.log_redaction import install_redaction, redact
from tests.conftest import Cli
from tests.servers.served import served

FEED = "/feeds/0123456789abcdefABCDEF_-xyz.ics"
KEY = "crm_u65R3WjsfHmnFnQ8cXy2Ya1ZPvkdIz-5BS1hnWovcdk"


@pytest.mark.parametrize(("line", "kept", "gone"), [
    (f'"GET {FEED} HTTP/1.1" 200', "/feeds/[redacted].ics", "0123456789abcdef"),
    (f"Authorization: Bearer {KEY}", "Bearer crm_[redacted]", KEY[4:]),
    ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "Bearer [redacted]",
     "eyJhbGci"),
    (f"key {KEY} created", "crm_[redacted]", KEY[4:]),
    ("GET /api/v1/lookup?address=ana.ruiz%40acme.example", "address=[address]", "ana.ruiz"),
    ("mail from Ana <ana.ruiz@acme.example>", "[address]", "acme.example"),
    ('settings {"password": "hunter2", "host": "x"}', '"host": "x"', "hunter2"),
])
def test_redact(line: str, kept: str, gone: str) -> None:
    assert kept in redact(line) and gone not in redact(line)


def test_every_handler_redacts_and_keeps_addresses_only_at_debug() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("crmsync.test.redaction")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        install_redaction(logger)
        logger.info("served %s for %s", FEED, "ana.ruiz@acme.example")
        logger.debug("matched %s", "ana.ruiz@acme.example")
        try:
            raise ValueError(f"bad key {KEY}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "0123456789abcdef" not in text and KEY not in text
    assert text.count("ana.ruiz@acme.example") == 1  # the DEBUG line only


def test_serve_runs_a_production_server_that_logs_no_secrets(cli: Cli, tmp_path: Path) -> None:
    cli("db", "upgrade")
    log = tmp_path / "serve.log"
    with served(cli.env, "-v", log=log) as base:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}{FEED}", timeout=5)
        refused.value.close()
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
            assert answer.headers["Server"] == "crmsync"  # waitress, not Werkzeug's
    text = log.read_text()
    assert "0123456789abcdef" not in text
    assert "development server" not in text
