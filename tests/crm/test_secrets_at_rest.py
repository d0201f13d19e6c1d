"""Credentials are encrypted at rest and bound to their row.

A stolen database dump (a backup, a support bundle) must not hand over mailbox passwords,
and a ciphertext moved onto another mailbox must not quietly log in as someone else.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Cli

CANARIES = {"alpha": "canary-Pw-alpha-7f3e9c", "beta": "canary-Pw-beta-41d2aa"}


def _add_mailboxes(cli: Cli) -> None:
    for name, password in CANARIES.items():
        cli("mailbox", "add", "imap", name, "--host", "127.0.0.1", "--port", "9",
            "--security", "none", "--username", f"{name}@northwind.example",
            "--password-env", "CANARY_PASSWORD", "--smtp-host", "127.0.0.1",
            "--smtp-port", "9", "--smtp-security", "none",
            env={"CANARY_PASSWORD": password})


def _dump(database_url: str, postgres_bindir: Path | None) -> bytes:
    """Every byte a backup of this database would hold."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    assert postgres_bindir is not None
    libpq_url = database_url.replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run([str(postgres_bindir / "pg_dump"), "--dbname", libpq_url],
                          check=True, capture_output=True).stdout


@pytest.fixture
def postgres_bindir(database_url: str, request: pytest.FixtureRequest) -> Path | None:
    if database_url.startswith("sqlite"):
        return None
    return request.getfixturevalue("postgres").bindir


def test_a_database_dump_holds_no_password(
    cli: Cli, database_url: str, postgres_bindir: Path | None
) -> None:
    _add_mailboxes(cli)
    listing = cli("mailbox", "list", "--json").output

    dump = _dump(database_url, postgres_bindir)
    assert b"alpha@northwind.example" in dump, "the dump is real: it holds the settings"
    for password in CANARIES.values():
        assert password.encode() not in dump
        assert password not in listing


def test_ciphertexts_swapped_between_mailboxes_do_not_decrypt(
    cli: Cli, database_url: str
) -> None:
    _add_mailboxes(cli)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        rows = dict(connection.execute(text("SELECT name, secret FROM mailboxes")).all())
        for name, other in (("alpha", "beta"), ("beta", "alpha")):
            connection.execute(text("UPDATE mailboxes SET secret = :s WHERE name = :n"),
                               {"s": rows[other], "n": name})
    engine.dispose()

    result = cli("sync", "--mailbox", "alpha", "--once", ok=False)

    # A mailbox-level error with the reason, never a traceback or a login attempt.
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "credential unreadable" in result.output
    listing = cli("mailbox", "list").output
    alpha = next(line for line in listing.splitlines() if line.startswith("alpha "))
    assert "error" in alpha and "credential unreadable" in alpha


def test_a_key_file_other_users_can_read_is_refused(tmp_path: Path) -> None:
    # Without CRMSYNC_SECRET_KEY the key lives in a 0600 file beside the database.
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    cli = Cli(url, env={"CRMSYNC_SECRET_KEY": ""})
    cli("db", "upgrade")
    cli("mailbox", "add", "imap", "gamma", "--host", "127.0.0.1", "--port", "9",
        "--security", "none", "--username", "gamma", "--password-env", "CANARY_PASSWORD",
        env={"CANARY_PASSWORD": "canary-Pw-gamma-0b9d"})
    key_file = tmp_path / "crmsync.key"
    assert key_file.stat().st_mode & 0o777 == 0o600

    os.chmod(key_file, 0o644)
    result = cli("sync", "--mailbox", "gamma", "--once", ok=False)

    assert result.exit_code != 0
    assert "readable by other users" in result.output
