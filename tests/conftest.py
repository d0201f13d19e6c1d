"""Shared fixtures: real PostgreSQL, fresh databases on both backends, and the CLI."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session

from crmsync.crm.db import upgrade_schema
from crmsync.sync_service.cli import main
from crmsync.sync_service.context import Services
from crmsync.sync_service.startup import build_services
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer

#: the suite's mail servers (Dovecot, SMTP sinks, the Graph double) listen on loopback,
#: which crmsync refuses unless allowed (crmsync/connectors/network.py); subprocesses inherit
LOOPBACK = "127.0.0.0/8;::1/128"
os.environ.setdefault("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", LOOPBACK)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster; a missing server fails the suite, never skips it."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Debian's Chromium driven by Playwright; a missing browser fails, never skips.

    One for the whole session, here for every test directory: Playwright's sync API runs
    one instance per thread, so a second session fixture elsewhere could not start.
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    """A private Redis; a missing server fails the suite, never skips it."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crmsync.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"t{os.getpid()}_{next(_counter)}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'crmsync.db'}"


def make_services(url: str, **config: object) -> Services:
    services = build_services({"DATABASE_URL": url, "SECRET_KEY": "test-key", **config})
    upgrade_schema(services.engine)
    return services


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    services = make_services(database_url)
    yield services
    services.dispose()


class Cli:
    """Run ``crmsync`` in-process against one database, as a user would from a shell."""

    def __init__(self, url: str, env: dict[str, str] | None = None) -> None:
        self.env = {"CRMSYNC_DATABASE_URL": url, "CRMSYNC_SECRET_KEY": "test-key", **(env or {})}

    def __call__(self, *args: str, ok: bool = True, env: dict[str, str] | None = None) -> Result:
        result = CliRunner().invoke(main, list(args), env={**self.env, **(env or {})})
        if ok and result.exit_code != 0:
            raise AssertionError(
                f"crmsync {' '.join(args)} exited {result.exit_code}:\n{result.output}"
                + (f"\n{result.exception!r}" if result.exception else "")
            )
        return result

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session on this CLI's database, closed (with its pool) afterwards."""
        services = build_services({"DATABASE_URL": self.env["CRMSYNC_DATABASE_URL"]})
        try:
            with services.sessions() as session:
                yield session
        finally:
            services.dispose()

    def export_activities(self) -> list[dict]:
        out = self("export", "activities").output
        return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def cli(database_url: str) -> Cli:
    runner = Cli(database_url)
    runner("db", "upgrade")
    return runner


def load_sample_crm(cli: Cli) -> None:
    """Load the sample organization: northwind.example and its customers."""
    cli("org", "set-domains", "northwind.example")
    cli(
        "crm", "import",
        "--users", str(SAMPLES / "users.csv"),
        "--accounts", str(SAMPLES / "accounts.csv"),
        "--contacts", str(SAMPLES / "contacts.csv"),
        "--opportunities", str(SAMPLES / "opportunities.csv"),
    )


#: a folder name Dovecot flags ``\\Sent`` (SPECIAL-USE, RFC 6154), for folder discovery
SENT_SPECIAL = "Outbox Copies"
#: a capability list without CONDSTORE and QRESYNC, like Microsoft 365's IMAP
NO_CONDSTORE = "IMAP4rev1 LITERAL+ SASL-IR IDLE UIDPLUS MOVE"


# The session's Dovecot servers, for every test directory: users come from
# tests.servers.dovecot.new_user, so tests sharing a server never share a user.


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A real Dovecot with CONDSTORE and QRESYNC, as Debian ships it, whose
    :data:`SENT_SPECIAL` folder (when a user creates it) is SPECIAL-USE ``\\Sent``."""
    with DovecotServer(special_use={SENT_SPECIAL: "\\Sent"}) as server:
        yield server


@pytest.fixture(scope="session")
def dovecot_without_condstore() -> Iterator[DovecotServer]:
    """A Dovecot that advertises neither CONDSTORE nor QRESYNC, like Microsoft 365's IMAP."""
    with DovecotServer(capabilities=NO_CONDSTORE) as server:
        yield server
