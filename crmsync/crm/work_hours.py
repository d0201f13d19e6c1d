"""Working hours per CRM user: when a rep's follow-up clock runs.

A follow-up is due after a number of *business* hours (:mod:`crmsync.crm.followups`),
counted in the rep's own working week, daily hours, IANA time zone and holidays. Each
user may have a :class:`WorkHours` row; without one, the organization's default (the
``followups.business_hours`` and ``followups.holidays`` settings) holds, and without
that ``Mon-Fri 09:00-17:00 UTC``. The specs are the support desk's
(:func:`crmsync.mapping.cases.parse_business_hours`): ``"Mon-Fri 09:00-17:00
Europe/Berlin"`` and ``"DE;2026-12-24"`` (a ``holidays`` country code and/or ISO dates),
so one parser and one business-time rule serve SLAs and follow-ups.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from crmsync.crm.models import Base, Setting
from crmsync.errors import UserError
from crmsync.mapping.cases import BusinessHours, parse_business_hours

#: the organization's default, settings keys
DEFAULT_HOURS_KEY = "followups.business_hours"
DEFAULT_HOLIDAYS_KEY = "followups.holidays"
#: what holds when nobody set anything
BUILT_IN_HOURS = "Mon-Fri 09:00-17:00 UTC"


class WorkHours(Base):
    """One user's working week (a spec as :func:`parse_business_hours` reads it)."""

    __tablename__ = "work_hours"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    business_hours: Mapped[str] = mapped_column(String(200))
    holidays: Mapped[str] = mapped_column(Text, default="")


def _setting(session: Session, key: str) -> str:
    row = session.get(Setting, key)
    return row.value if row is not None else ""


def hours_spec(session: Session, user_id: int | None) -> tuple[str, str, str]:
    """Return (business hours, holidays, where from: ``user``, ``organization``,
    ``built-in``) in force for ``user_id`` (``None``: the organization's default)."""
    if user_id is not None:
        row = session.get(WorkHours, user_id)
        if row is not None:
            return row.business_hours, row.holidays, "user"
    spec = _setting(session, DEFAULT_HOURS_KEY)
    if spec:
        return spec, _setting(session, DEFAULT_HOLIDAYS_KEY), "organization"
    return BUILT_IN_HOURS, _setting(session, DEFAULT_HOLIDAYS_KEY), "built-in"


def calendar_of(session: Session, user_id: int | None) -> BusinessHours:
    """The working calendar the follow-up clock of ``user_id`` runs on.

    :raises UserError: a stored spec that no longer parses (e.g. a removed zone).
    """
    spec, holidays, _ = hours_spec(session, user_id)
    try:
        calendar = parse_business_hours(spec, holidays)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    assert calendar is not None  # a spec is never empty here
    return calendar


def set_hours(session: Session, user_id: int | None, spec: str, holidays: str = "") -> None:
    """Store a user's working hours (``None``: the organization's default), validated first.

    :raises UserError: when the spec or the holidays do not parse.
    """
    try:
        parsed = parse_business_hours(spec, holidays)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if parsed is None:
        raise UserError("working hours must not be empty, e.g. 'Mon-Fri 09:00-17:00 Europe/Berlin'")
    if user_id is None:
        for key, value in ((DEFAULT_HOURS_KEY, spec), (DEFAULT_HOLIDAYS_KEY, holidays)):
            row = session.get(Setting, key) or Setting(key=key)
            row.value = value
            session.add(row)
        return
    row = session.get(WorkHours, user_id) or WorkHours(user_id=user_id)
    row.business_hours, row.holidays = spec, holidays
    session.add(row)
