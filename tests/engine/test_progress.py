"""A progress line on a terminal, and nothing extra for scripts (docs/cli.md)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLES

MBOX = SAMPLES / "mailbox.mbox"


def _crmsync(tmp_path: Path, *args: str, stderr: int | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CRMSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
        "CRMSYNC_SECRET_KEY": "test-key",
        "CRMSYNC_INTERNAL_DOMAINS": "northwind.example",
    }
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *args], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=stderr if stderr is not None else subprocess.PIPE,
        timeout=120, check=True,
    )


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_import_on_a_terminal_shows_progress_then_only_the_report(tmp_path: Path) -> None:
    _crmsync(tmp_path, "db", "upgrade")
    primary, secondary = pty.openpty()
    try:
        result = _crmsync(tmp_path, "mail", "import", str(MBOX), stderr=secondary)
    finally:
        os.close(secondary)
    terminal = _read_all(primary).decode()
    os.close(primary)

    assert "import: " in terminal and " items (" in terminal, terminal
    assert terminal.endswith("\r"), "the progress line is cleared before the report"
    assert result.stdout.decode().startswith("files: ok:")


def test_import_into_a_pipe_prints_the_report_alone(tmp_path: Path) -> None:
    _crmsync(tmp_path, "db", "upgrade")
    result = _crmsync(tmp_path, "mail", "import", str(MBOX))

    assert "\r" not in result.stderr.decode() + result.stdout.decode()
    assert " items (" not in result.stderr.decode()
    assert result.stdout.decode().startswith("files: ok:")
