"""Fixtures of the distributed engine's tests: a private broker database and a
PostgreSQL database with the sample CRM, whose CLI queues through that broker."""

from __future__ import annotations

import os

import pytest

from tests.conftest import Cli, load_sample_crm
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.workers.workers import broker_url, flush


@pytest.fixture
def broker(redis: RedisServer) -> str:
    url = broker_url(redis)
    flush(url)
    return url


@pytest.fixture
def pg_cli(postgres: PostgresServer, broker: str, request: pytest.FixtureRequest) -> Cli:
    url = postgres.create_database(f"w{os.getpid()}_{request.node.name[:40].lower()}")
    runner = Cli(url, env={"CRMSYNC_BROKER_URL": broker})
    runner("db", "upgrade")
    load_sample_crm(runner)
    return runner
