"""The two-way rule for a meeting booked in the CRM and its event in a calendar (pure).

Both sides may change a meeting between two syncs. Each field (subject, start, end,
attendees) is decided on its own, against ``agreed``, the values both sides held after
the last write or read:

- changed on one side only: that side's value goes to the other;
- changed on both sides: the later change wins, by the CRM's time for that field
  against the calendar's last-modified time; when the calendar's time is unknown, the
  calendar's value stands (a change nobody can date is never overwritten), and so it
  does within the same second when the calendar keeps whole seconds (Exchange);
- changed on neither: nothing happens.

So the CRM never writes over a change made in the calendar after its own, and a change
the calendar made to one field never undoes the CRM's newer change to another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Merge:
    """What each side takes: field → value."""

    to_crm: dict[str, Any] = field(default_factory=dict)
    to_calendar: dict[str, Any] = field(default_factory=dict)


def merge_fields(crm: Mapping[str, Any], calendar: Mapping[str, Any],
                 agreed: Mapping[str, Any], times: tuple[Mapping[str, datetime],
                                                         datetime | None],
                 fields: Iterable[str]) -> Merge:
    """Decide, field by field, which side's value each side takes.

    :param crm: the CRM's values; ``calendar``: the calendar's; ``agreed``: the last
        values both held (JSON-ready values compared with ``==``).
    :param times: the CRM's change time per field, and the calendar's last-modified
        time (``None``: unknown).
    :param fields: the fields to decide (attendees only when the calendar holds them).
    """
    crm_times, calendar_time = times
    merge = Merge()
    for name in fields:
        crm_value, calendar_value, before = crm.get(name), calendar.get(name), agreed.get(name)
        crm_changed, calendar_changed = crm_value != before, calendar_value != before
        if crm_value == calendar_value:
            continue  # both hold the same (perhaps both made the same change)
        if crm_changed and not calendar_changed:
            merge.to_calendar[name] = crm_value
        elif calendar_changed and not crm_changed:
            merge.to_crm[name] = calendar_value
        elif _crm_is_later(crm_times.get(name), calendar_time):
            merge.to_calendar[name] = crm_value
        else:
            merge.to_crm[name] = calendar_value
    return merge


def _crm_is_later(crm_time: datetime | None, calendar_time: datetime | None) -> bool:
    """Whether the CRM's change is later, at the calendar's precision: Exchange keeps
    whole seconds, so within the same second the calendar's change stands."""
    if crm_time is None or calendar_time is None:
        return False
    if calendar_time.microsecond == 0:
        crm_time = crm_time.replace(microsecond=0)
    return crm_time > calendar_time
