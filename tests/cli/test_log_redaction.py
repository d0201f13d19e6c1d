"""Secrets never reach a log line; addresses only at DEBUG; `serve` is a production server."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from crmsync.sync_service.log_redaction import install_redaction, redact
from tests.conftest import Cli

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_runs_a_production_server_that_logs_no_secrets(cli: Cli, tmp_path: Path) -> None:
    cli("db", "upgrade")
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "crmsync", "-v", "serve", "--port", str(port),
             "--no-scheduler"], env={**os.environ, **cli.env},
            stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{FEED}", timeout=5)
        refused.value.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.headers["Server"] == "crmsync"  # waitress, not Werkzeug's
    finally:
        server.terminate()
        server.wait(10)
    text = log.read_text()
    assert "0123456789abcdef" not in text
    assert "development server" not in text
