"""Insert many rows of one table in one ``executemany``, at the cost SQLite itself sets.

A backfill inserts about ten rows per mail (activity, participants, links, source,
thread keys, suggestions). Through a Core ``insert()`` with a list of dicts,
SQLAlchemy converts each row's values on every statement, which cost more than
SQLite's own work on its indexes (a bare ``executemany`` reaches about 610,000 rows/s
in WAL mode, 500-row transactions, a primary key only). Here the statement and each
column's conversion are worked out once per (table, columns) and the rows go to the
driver as tuples, through ``exec_driver_sql``: the same connection and transaction, the
same event hooks and the same ``IntegrityError``/``DataError`` wrapping the engine's
isolation relies on.

SQLite only. PostgreSQL keeps the Core path, which SQLAlchemy already sends as
multi-row ``INSERT ... VALUES`` batches ("insertmanyvalues").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.orm import Session

Row = Mapping[str, Any]


def insert_rows(session: Session, table: Table, rows: Sequence[Row]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in ``session``'s transaction.

    Columns a row leaves out get their Python-side default, as with ``table.insert()``.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        connection.execute(table.insert(), list(rows))
        return
    plan = _plan(table, tuple(rows[0]), connection.dialect)
    connection.exec_driver_sql(plan.sql, plan.values(rows))


@dataclass(frozen=True)
class _Plan:
    """The statement for one (table, given columns) and how to convert a row for it.

    :param pick: the given columns' values of a row, as a tuple, in statement order.
    :param converters: (position, function) for the columns whose values the driver
        cannot take as they are (datetimes, JSON).
    :param defaults: Python-side defaults of the columns the rows leave out.
    """

    sql: str
    pick: Callable[[Row], tuple[Any, ...]]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]
    defaults: tuple[Callable[[], Any], ...]

    def values(self, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        pick = self.pick
        if not self.converters and not self.defaults:
            return [pick(row) for row in rows]
        converted = []
        # the same time recurs down a page (its "now", an activity's time on its links);
        # keyed with its tzinfo too: equal instants in two zones are equal keys, and a
        # type that keeps the wall clock (plain DateTime on SQLite) converts them apart
        memo: dict[tuple[int, datetime, Any], Any] = {}
        for row in rows:
            values = list(pick(row))
            for position, convert in self.converters:
                value = values[position]
                if type(value) is datetime:
                    key = (position, value, value.tzinfo)
                    found = memo.get(key)
                    if found is None:
                        found = memo[key] = convert(value)
                    values[position] = found
                else:
                    values[position] = convert(value)
            values += [default() for default in self.defaults]
            converted.append(tuple(values))
        return converted


@lru_cache(maxsize=64)
def _plan(table: Table, names: tuple[str, ...], dialect: Dialect) -> _Plan:
    processors = [_processor(table.c[name], dialect) for name in names]
    converters = tuple((i, f) for i, f in enumerate(processors) if f is not None)
    filled = [column for column in table.c
              if column.name not in names and column.default is not None]
    defaults = tuple(_default_of(column, dialect) for column in filled)
    columns = [*names, *(column.name for column in filled)]
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join('?' * len(columns))})")
    pick = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    return _Plan(sql, pick, converters, defaults)


def _processor(column: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """Return how SQLAlchemy converts ``column``'s values for ``dialect``'s driver."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _default_of(column: Any, dialect: Dialect) -> Callable[[], Any]:
    """Return a function giving ``column``'s Python-side default, converted for the driver."""
    default, convert = column.default, _processor(column, dialect)
    if default.is_callable:
        def produce() -> Any:
            return default.arg(None)
    elif default.is_scalar:
        def produce() -> Any:
            return default.arg
    else:
        raise TypeError(f"{column}: only scalar and callable defaults can be filled in bulk")
    if convert is None:
        return produce
    return lambda: convert(produce())
