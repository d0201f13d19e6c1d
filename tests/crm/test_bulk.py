"""insert_rows stores exactly what a Core ``insert()`` stores, on both backends.

The engine's backfill writes its rows through :func:`crmsync.crm.bulk.insert_rows`. A
value stored in another form than SQLAlchemy's (a datetime as ``...+00:00`` instead of
``....000000``, flags not as JSON) would sort and compare wrongly in every later query,
so the raw stored values are compared column for column.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.crm.bulk import insert_rows
from crmsync.crm.models import Activity, ActivityLink, ActivitySource, Contact
from crmsync.sync_service.context import Services

T0 = datetime(2026, 11, 2, 9, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture
def session(services: Services) -> Iterator[Session]:
    with services.sessions() as session:
        yield session


def _activity(session: Session, key: str) -> int:
    activity = Activity(dedupe_key=key, subject=key, created_at=T0, occurred_at=T0)
    session.add(activity)
    session.flush()
    return activity.id


def _stored(session: Session, table: Table, activity_id: int) -> list[tuple]:
    """The raw values as the database holds them, without the row id."""
    columns = [c.name for c in table.c if c.name != "id"]
    quoted = ", ".join(f'"{c}"' for c in columns)
    return [tuple(row) for row in session.connection().exec_driver_sql(
        f"SELECT {quoted} FROM {table.name} WHERE activity_id = {activity_id} ORDER BY id")]


def _both(session: Session, table: Table, rows: list[dict]) -> tuple[list, list]:
    """Insert ``rows`` once with Core and once with insert_rows; return what each stored."""
    core, bulk = _activity(session, "<core@x>"), _activity(session, "<bulk@x>")
    session.execute(table.insert(), [_for(row, core, "#core") for row in rows])
    insert_rows(session, table, [_for(row, bulk, "#bulk") for row in rows])
    session.flush()
    def comparable(stored: list[tuple]) -> list[tuple]:  # without activity_id and suffix
        return [tuple(str(v).split("#")[0] for v in values[1:]) for values in stored]

    return comparable(_stored(session, table, core)), comparable(_stored(session, table, bulk))


def _for(row: dict, activity_id: int, suffix: str) -> dict:
    """``row`` for one activity; a source's origin is made unique to it."""
    row = {**row, "activity_id": activity_id}
    if "origin" in row:
        row["origin"] += suffix
    return row


def test_times_defaults_and_nulls_are_stored_as_core_stores_them(session: Session) -> None:
    # Links: aware datetimes in two zones (the same instant), a column left to its default.
    contact = Contact(external_id="c-1", first_name="Ana")
    session.add(contact)
    session.flush()
    paris = timezone(timedelta(hours=1))
    rows = [
        {"contact_id": contact.id, "reason": "sender is contact Ana", "confidence": 0.95,
         "created_at": T0, "occurred_at": T0},
        {"contact_id": contact.id, "reason": "same instant, other zone", "confidence": 1.0,
         "created_at": T0, "occurred_at": T0.astimezone(paris)},
    ]
    core, bulk = _both(session, ActivityLink.__table__, rows)
    assert bulk == core
    assert core[0] != core[1]  # the two zones are stored as written, as Core does


def test_json_flags_are_stored_as_core_stores_them(session: Session) -> None:
    rows = [{"mailbox_id": None, "origin": "file:a", "folder": "INBOX", "item_id": "1",
             "flags": ["\\Seen", "$Label1"]}]
    core, bulk = _both(session, ActivitySource.__table__, rows)
    assert bulk == core
    source = session.scalars(select(ActivitySource).where(
        ActivitySource.origin == "file:a#bulk")).one()
    assert source.flags == ["\\Seen", "$Label1"]


def test_a_refused_row_raises_the_error_isolation_catches(session: Session) -> None:
    # engine/isolate.py quarantines the item when the database refuses it: the error must
    # be SQLAlchemy's IntegrityError, as with Core.
    activity_id = _activity(session, "<dup@x>")
    row = {"activity_id": activity_id, "origin": "file:a", "folder": "INBOX", "item_id": "9",
           "flags": []}
    insert_rows(session, ActivitySource.__table__, [row])
    with pytest.raises(IntegrityError):
        insert_rows(session, ActivitySource.__table__, [row])
