"""Time zone names as mail systems write them, resolved to IANA zones; never guessed.

Outlook and Exchange write Windows names ("Tokyo Standard Time"); everything else writes
IANA names ("Asia/Tokyo"). The Windows table is CLDR's ``windowsZones.xml`` as icalendar
ships it (``icalendar.timezone.windows_to_olson``), so it is maintained upstream.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

__all__ = ["UnknownZoneError", "resolve_zone"]


class UnknownZoneError(ValueError):
    """A zone name that is neither IANA nor a known Windows name: quarantine, never guess."""


def resolve_zone(name: str) -> ZoneInfo:
    """Return the IANA zone for an IANA or Windows zone ``name``.

    :raises UnknownZoneError: the name resolves to nothing (``tzone://Microsoft/Custom``
        without its definition, a typo, an empty string).
    """
    cleaned = name.strip().strip('"')
    candidate = WINDOWS_TO_OLSON.get(cleaned, cleaned)
    if not candidate or candidate.startswith(("/", ".")) or ".." in candidate:
        raise UnknownZoneError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownZoneError(f"unknown time zone {name!r}") from exc
