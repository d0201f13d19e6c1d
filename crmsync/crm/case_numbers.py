"""Case numbers: ``CASE-000042``, sequential and never reused.

The counter lives in one row of :class:`CaseSequence`.
Allocation increments it with a single ``UPDATE ... RETURNING`` inside the caller's
transaction: PostgreSQL holds the row lock and SQLite the write lock until commit, so
two writers never get the same number, and a rolled-back case leaves a gap rather
than a reused number. The row is created on first use with ``INSERT ... ON CONFLICT
DO NOTHING``, so two first-ever allocations at once both succeed.
"""

from __future__ import annotations

import re

from sqlalchemy import String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from crmsync.crm.models import Base, Case

SEQUENCE = "case"
PATTERN = re.compile(r"CASE-(\d{6,})")


class CaseSequence(Base):
    """The last case number handed out; it only grows, so a number is never reused."""

    __tablename__ = "case_sequences"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_value: Mapped[int] = mapped_column(default=0)


def format_case_number(value: int) -> str:
    return f"CASE-{value:06d}"


def _highest_existing(session: Session) -> int:
    numbers = session.scalars(select(Case.number).where(Case.number.like("CASE-%"))).all()
    values = [int(m.group(1)) for n in numbers if (m := PATTERN.fullmatch(n))]
    return max(values, default=0)


def allocate_case_number(session: Session) -> str:
    """Return the next case number; the caller's commit makes it taken for good."""
    value = _bump(session)
    if value is None:
        # First allocation: create the counter past any case imported or created before
        # it. ON CONFLICT DO NOTHING: two first allocations at once both reach the bump
        # (on PostgreSQL the second INSERT waits for the first's commit, then the row
        # is there for its UPDATE), so neither fails on the primary key.
        _insert_if_missing(session, _highest_existing(session))
        value = _bump(session)
    assert value is not None, "the case counter row exists after the insert"
    return format_case_number(value)


def _bump(session: Session) -> int | None:
    """Increment the counter under its row (PostgreSQL) or write (SQLite) lock."""
    return session.scalar(
        update(CaseSequence).where(CaseSequence.name == SEQUENCE)
        .values(last_value=CaseSequence.last_value + 1)
        .returning(CaseSequence.last_value)
    )


def _insert_if_missing(session: Session, start: int) -> None:
    dialect = session.get_bind().dialect.name
    # imported here: the PostgreSQL dialect package loads asyncio with it
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}.get(dialect)
    if insert is None:
        raise NotImplementedError(f"case numbers on {dialect}")
    session.execute(
        insert(CaseSequence).values(name=SEQUENCE, last_value=start)
        .on_conflict_do_nothing(index_elements=[CaseSequence.name])
    )
