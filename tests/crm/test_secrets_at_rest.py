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


def _keyless(tmp_path: Path) -> tuple[Cli, Path]:
    """A CLI with no CRMSYNC_SECRET_KEY on a SQLite file; its key file's path."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    config_home = tmp_path / "config"
    cli = Cli(url, env={"CRMSYNC_SECRET_KEY": "", "XDG_CONFIG_HOME": str(config_home)})
    cli("db", "upgrade")
    from crmsync.sync_service.mailboxes.credentials import key_file_for

    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(config_home)
    try:
        return cli, key_file_for(url)
    finally:
        if old is None:
            del os.environ["XDG_CONFIG_HOME"]
        else:
            os.environ["XDG_CONFIG_HOME"] = old


def _add(cli: Cli, name: str, password: str) -> None:
    cli("mailbox", "add", "imap", name, "--host", "127.0.0.1", "--port", "9",
        "--security", "none", "--username", name, "--password-env", "CANARY_PASSWORD",
        env={"CANARY_PASSWORD": password})


def test_the_key_file_is_private_and_not_beside_the_database(tmp_path: Path) -> None:
    # One backup of the database folder must not hold both the credentials and their key.
    cli, key_file = _keyless(tmp_path)
    _add(cli, "gamma", "canary-Pw-gamma-0b9d")
    assert key_file.exists() and key_file.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "crmsync.key").exists()
    assert tmp_path / "config" in key_file.parents

    os.chmod(key_file, 0o644)
    result = cli("sync", "--mailbox", "gamma", "--once", ok=False)

    assert result.exit_code != 0
    assert "readable by other users" in result.output


def test_a_lost_key_stops_the_service_with_the_fix_instead_of_making_a_new_one(
    tmp_path: Path
) -> None:
    cli, key_file = _keyless(tmp_path)
    _add(cli, "gamma", "canary-Pw-gamma-0b9d")
    key_file.unlink()

    result = cli("sync", "--once", ok=False)

    assert result.exit_code != 0
    assert "key is missing" in result.output and str(key_file) in result.output
    assert not key_file.exists()  # no new key that would open nothing


def test_keys_rotate_with_no_unreadable_credential_and_tampering_is_a_mailbox_error(
    cli: Cli, database_url: str
) -> None:
    _add_mailboxes(cli)  # sealed with "test-key"
    rotating = {"CRMSYNC_SECRET_KEY": "new-key", "CRMSYNC_OLD_SECRET_KEYS": "test-key"}
    status = cli("secrets", "status", env=rotating).output
    assert "\t2\told" in status
    # During the rotation both keys open every credential: syncs go on.
    assert "credential unreadable" not in cli("sync", "--once", ok=False, env=rotating).output
    assert "re-sealed 2" in cli("secrets", "rotate", env=rotating).output
    assert "\t2\tcurrent" in cli("secrets", "status", env=rotating).output
    # The old key is gone: everything still opens with the new one alone.
    new_only = {"CRMSYNC_SECRET_KEY": "new-key"}
    assert "credential unreadable" not in cli("sync", "--once", ok=False, env=new_only).output
    # A tampered ciphertext is that mailbox's error, not a crash.
    engine = create_engine(database_url)
    with engine.begin() as connection:
        sealed = connection.execute(text("SELECT secret FROM mailboxes WHERE name = 'alpha'"))
        tampered = bytearray(sealed.scalar_one())
        tampered[-1] ^= 1
        connection.execute(text("UPDATE mailboxes SET secret = :s WHERE name = 'alpha'"),
                           {"s": bytes(tampered)})
    engine.dispose()
    result = cli("sync", "--mailbox", "alpha", "--once", ok=False, env=new_only)
    assert result.exit_code == 2 and "credential unreadable" in result.output


def test_credentials_sealed_before_key_ids_still_open() -> None:
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from crmsync.sync_service.mailboxes.credentials import Key, SecretBox

    nonce = os.urandom(12)
    legacy = b"v1" + nonce + AESGCM(hashlib.sha256(b"test-key").digest()).encrypt(
        nonce, b"pw", b"alpha")
    box = SecretBox([Key.from_secret(b"test-key")])
    assert box.open(legacy, "alpha") == "pw"
    assert box.open(box.seal("pw", "alpha"), "alpha") == "pw"
    assert box.seal("pw", "alpha")[:2] == b"v2"
