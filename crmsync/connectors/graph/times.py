"""Graph's date-time shapes: ISO 8601 strings and ``dateTimeTimeZone`` objects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def parse_utc(text: str) -> datetime:
    """Parse ``2016-12-09T20:30:00.0000000Z`` (or with an offset, or naive = UTC)."""
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    moment = datetime.fromisoformat(cleaned)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_zoned(value: Mapping[str, Any]) -> datetime:
    """Parse a ``dateTimeTimeZone`` to UTC.

    :raises ValueError: the zone is unknown (quarantined by the caller, never guessed).
    """
    zone = str(value.get("timeZone") or "UTC")
    moment = parse_utc(str(value["dateTime"])).replace(tzinfo=None)
    if zone.upper() in ("UTC", "ETC/UTC", "GMT"):
        return moment.replace(tzinfo=UTC)
    try:
        return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {zone!r}") from exc
