"""When a mail happened, from headers that are often wrong and a clock the caller passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

__all__ = ["choose_occurred_at", "parse_date_header", "plausible_occurred_at"]

#: No mail a CRM holds is older than this; earlier Dates come from broken clocks (1970, 1980).
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
#: Clock skew tolerated between a sender's Date and our ``now``.
FUTURE_TOLERANCE = timedelta(days=1)


def parse_date_header(raw: str | None) -> datetime | None:
    """Parse an RFC 5322 Date value into an aware UTC datetime; ``None`` when unreadable.

    A Date without a zone (or with ``-0000``) is taken as UTC.
    """
    if not raw or not raw.strip():
        return None
    try:
        parsed = parsedate_to_datetime(raw.strip())
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    return as_utc(parsed)


def choose_occurred_at(
    date_header: str | None, received_at: datetime | None, now: datetime
) -> datetime:
    """Return when a mail occurred: its Date if plausible, else when it was received, else now.

    A Date more than :data:`FUTURE_TOLERANCE` after ``now`` or before
    :data:`EARLIEST_PLAUSIBLE` is a broken clock, not a fact, and would sort the activity
    wrongly on every timeline.

    :param now: the caller's clock (mapping reads no clock of its own).
    """
    return plausible_occurred_at(parse_date_header(date_header), received_at, now)


def plausible_occurred_at(
    parsed: datetime | None, received_at: datetime | None, now: datetime
) -> datetime:
    """:func:`choose_occurred_at` for a Date already parsed by :func:`parse_date_header`."""
    now = as_utc(now)
    if parsed is not None and EARLIEST_PLAUSIBLE <= parsed <= now + FUTURE_TOLERANCE:
        return parsed
    if received_at is not None:
        return as_utc(received_at)
    return now


def as_utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
