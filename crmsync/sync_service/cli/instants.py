"""Reading an ``--as-of`` instant the same way in every command."""

from __future__ import annotations

from datetime import UTC, datetime

from crmsync.errors import UserError


def parse_instant(value: str | None) -> datetime:
    """An ISO 8601 instant (``Z`` or an offset; naive is UTC), or now when not given."""
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UserError(f"not an ISO-8601 instant: {value!r}") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
