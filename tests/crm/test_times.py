"""A stored time reads back aware in UTC on both backends, whatever zone it was given in.

SQLite keeps no zone and PostgreSQL answers in the session's; ``UtcDateTime`` makes
both hand back the same aware UTC ``datetime``, so no reader fixes values up itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from crmsync.crm.bulk import insert_rows
from crmsync.crm.models import Mailbox
from crmsync.sync_service.context import Services

T0 = datetime(2026, 11, 2, 9, 0, 0, 250000, tzinfo=UTC)
#: T0 as a Berlin wall clock says it (10:00 in November)
T0_BERLIN = T0.astimezone(ZoneInfo("Europe/Berlin"))


@pytest.fixture
def session(services: Services) -> Iterator[Session]:
    with services.sessions() as session:
        yield session


def _add(session: Session, name: str, created_at: datetime) -> None:
    session.add(Mailbox(name=name, provider="imap", settings={}, created_at=created_at))
    session.flush()
    session.expunge_all()  # read back from the database, not the identity map


def _read(session: Session, name: str) -> datetime:
    if session.get_bind().dialect.name == "postgresql":
        # answer in a zone that is not UTC: the type still hands back UTC
        session.execute(text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))
    return session.scalars(select(Mailbox.created_at).where(Mailbox.name == name)).one()


def _stored_text(session: Session, name: str) -> str:
    """What the database holds, as UTC text, without SQLAlchemy's conversion."""
    if session.get_bind().dialect.name == "postgresql":
        sql = ("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "
               "FROM mailboxes WHERE name = %(name)s")
    else:
        sql = "SELECT created_at FROM mailboxes WHERE name = :name"
    return session.connection().exec_driver_sql(sql, {"name": name}).scalar_one()


@pytest.mark.parametrize("given", [T0, T0.replace(tzinfo=None)], ids=["utc", "naive"])
def test_a_stored_time_reads_back_aware_utc(session: Session, given: datetime) -> None:
    # A UTC value (or a naive one, UTC by convention) comes back aware, zone UTC.
    _add(session, "box", given)
    read = _read(session, "box")
    assert read == T0 and read.tzinfo is UTC


def test_a_time_in_another_zone_is_stored_as_the_same_instant(session: Session) -> None:
    # 10:00 in Berlin is 09:00 UTC: stored as 09:00, not as Berlin's wall clock.
    _add(session, "berlin", T0_BERLIN)
    _add(session, "utc", T0)
    assert _read(session, "berlin") == T0
    assert _stored_text(session, "berlin") == _stored_text(session, "utc") \
        == "2026-11-02 09:00:00.250000"


def test_a_query_compares_instants_whatever_their_zone(session: Session) -> None:
    # A bound value in another zone means the same instant in a WHERE clause.
    _add(session, "box", T0)
    found = session.scalars(select(Mailbox.name).where(
        Mailbox.created_at == T0.astimezone(timezone(timedelta(hours=-5))))).all()
    before = session.scalars(select(Mailbox.name).where(
        Mailbox.created_at < T0_BERLIN - timedelta(microseconds=1))).all()
    assert (found, before) == (["box"], [])


def test_bulk_inserts_store_the_same_text(session: Session) -> None:
    # The engine's bulk path converts with the type's own processors: same bytes as Core.
    rows = [{"name": name, "provider": "imap", "settings": {}, "purpose": "personal",
             "status": "new", "created_at": moment}
            for name, moment in (("bulk-utc", T0), ("bulk-berlin", T0_BERLIN))]
    insert_rows(session, Mailbox.__table__, rows)
    _add(session, "core", T0)
    assert {_stored_text(session, name) for name in ("bulk-utc", "bulk-berlin", "core")} \
        == {"2026-11-02 09:00:00.250000"}
    assert _read(session, "bulk-berlin") == T0
