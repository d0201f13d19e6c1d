"""Case numbers under concurrency: two first-ever allocations at once on PostgreSQL."""

from __future__ import annotations

import itertools
import os
import threading
import time

from sqlalchemy import text

from crmsync.crm.case_numbers import allocate_case_number
from crmsync.sync_service.context import Services
from tests.conftest import make_services
from tests.servers.postgres import PostgresServer

_names = itertools.count(1)


def _wait_until_blocked(services: Services, seconds: float = 30.0) -> bool:
    """Whether another session of this database waits on a lock (polled, not timed)."""
    deadline = time.monotonic() + seconds
    with services.engine.connect() as probe:
        while time.monotonic() < deadline:
            waiting = probe.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )).scalar()
            probe.rollback()
            if waiting:
                return True
            time.sleep(0.05)
    return False


def test_two_first_allocations_at_once_both_get_numbers(postgres: PostgresServer) -> None:
    # Two agents create the very first cases at the same moment: both succeed, numbers differ.
    url = postgres.create_database(f"cn{os.getpid()}_{next(_names)}")
    services = make_services(url)
    try:
        results: dict[str, object] = {}
        first = services.sessions()
        results["first"] = allocate_case_number(first)  # counter row inserted, not committed

        def second_agent() -> None:
            with services.sessions() as session:
                try:
                    results["second"] = allocate_case_number(session)
                    session.commit()
                except Exception as exc:  # reported by the assertion below
                    results["second"] = exc

        worker = threading.Thread(target=second_agent)
        worker.start()
        assert _wait_until_blocked(services), "the second allocation never met the first"
        first.commit()
        first.close()
        worker.join()
        assert results == {"first": "CASE-000001", "second": "CASE-000002"}
        with services.sessions() as session:
            assert allocate_case_number(session) == "CASE-000003"
            session.rollback()
    finally:
        services.dispose()
