"""Background checkpoints: the log is copied into the database beside the writer."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from crmsync.crm.checkpoints import DEFAULT_AUTOCHECKPOINT, background_checkpoints
from tests.conftest import make_services


def _write_pages(services, pages: int, checkpointer=None) -> None:
    blob = "x" * 4000  # about a page of the database per row
    for page in range(pages):
        with services.sessions() as session:
            session.execute(text("INSERT INTO settings (key, value) VALUES (:k, :v)"),
                            [{"k": f"p{page}-{n}", "v": blob} for n in range(200)])
            session.commit()
        if checkpointer is not None:
            checkpointer.committed()


def test_the_log_stays_small_and_nothing_is_lost(tmp_path: Path) -> None:
    # 20 pages of ~800 KB each, written as fast as possible: the writer outruns the
    # checkpoints, and still the -wal file stays near the limit instead of holding all.
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    services = make_services(url)
    wal = tmp_path / "crm.db-wal"
    limit = 2_000_000
    try:
        with background_checkpoints(services.engine, max_log_bytes=limit) as checkpointer:
            assert checkpointer is not None
            with services.engine.connect() as connection:  # the writer does not checkpoint
                assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            _write_pages(services, 20, checkpointer)
            largest = wal.stat().st_size
        with services.engine.connect() as connection:
            assert connection.exec_driver_sql(
                "PRAGMA wal_autocheckpoint").scalar() == DEFAULT_AUTOCHECKPOINT
            count = connection.exec_driver_sql(
                "SELECT count(*) FROM settings WHERE key LIKE 'p%'").scalar()
        assert count == 20 * 200
        assert largest < limit + 2 * 800_000, f"the log grew to {largest} bytes"
    finally:
        services.dispose()


def test_nothing_to_do_on_postgresql(services) -> None:
    if services.engine.dialect.name == "sqlite":
        return
    with background_checkpoints(services.engine) as checkpointer:
        assert checkpointer is None
