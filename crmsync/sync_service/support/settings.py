"""Support-mailbox settings: organization data an admin changes at run time, not code.

They live in the ``settings`` table under ``support.<name>`` (the page hook reads them
from its own transaction), are shown and changed by ``crmsync cases settings``, and
default to what Salesforce Email-to-Case and Zammad do out of the box.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.models import Mailbox, Setting
from crmsync.errors import UserError
from crmsync.mapping.cases import BusinessHours, parse_business_hours
from crmsync.mapping.loops import AckLimits
from crmsync.sync_service.engine.page import Writer

PREFIX = "support."
#: a phone number as text-message gateways take it: E.164, or digits
PHONE = re.compile(r"\+?[0-9]{3,20}")
#: name → (default, type, help)
OPTIONS: dict[str, tuple[Any, type, str]] = {
    "sla_hours": (12.0, float, "first-response time in hours"),
    "business_hours": ("", str, "count SLA time only in e.g. 'Mon-Fri 09:00-17:00 Europe/Madrid'"),
    "holidays": ("", str, "holiday calendar: a country code (ES, US-CA) and/or ISO dates, ';'"),
    "ack_per_hour": (1, int, "acknowledgements one sender may get per hour"),
    "ack_per_day": (3, int, "acknowledgements one sender may get per 24 hours"),
    "ack_max_age_hours": (24.0, float, "mail older than this (or from before the mailbox "
                          "was connected) opens its case without an acknowledgement; 0: "
                          "no age limit"),
    "ack_template": ("acknowledgement", str, "reply template used to acknowledge new cases"),
    "reopen_closed": (True, bool, "a reply to a closed case reopens it (else: follow-up case)"),
    "create_contacts": (False, bool, "create a contact for an unknown sender of a new case"),
    "alert_webhook": ("", str, "URL that receives a JSON POST per SLA breach and burst"),
    "sms_recipients": ("", str, "phone numbers that get every support alert (SLA breach, "
                       "burst) by text message, ';'-separated (besides the phones of the "
                       "users alerted)"),
    "sms_per_hour": (5, int, "text messages one phone may get per hour (loop safety)"),
    "burst_threshold": (15, int, "near-identical mails from one sender that make a burst"),
    "burst_seconds": (60, int, "window in which near-identical mails are held as one"),
}


@dataclass(frozen=True)
class SupportSettings:
    """The effective settings; see :data:`OPTIONS` for each one's meaning."""

    sla_hours: float = 12.0
    calendar: BusinessHours | None = None
    ack_limits: AckLimits = field(default_factory=AckLimits)
    #: ``None``: no age limit (only mail from before the mailbox's connection is silent)
    ack_max_age: timedelta | None = timedelta(hours=24)
    ack_template: str = "acknowledgement"
    reopen_closed: bool = True
    create_contacts: bool = False
    alert_webhook: str = ""
    sms_recipients: tuple[str, ...] = ()
    sms_per_hour: int = 5
    burst_threshold: int = 15
    burst_seconds: int = 60


def coerce(name: str, raw: Any) -> Any:
    """Return ``raw`` as option ``name``'s type; :class:`UserError` when it is not one."""
    if name not in OPTIONS:
        raise UserError(f"unknown support setting {name!r}; known: {', '.join(OPTIONS)}")
    kind = OPTIONS[name][1]
    if kind is bool and isinstance(raw, str):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    try:
        value = kind(raw)
    except (TypeError, ValueError) as exc:
        raise UserError(f"support setting {name}: expected {kind.__name__}, got {raw!r}") from exc
    if kind in (int, float) and value < 0:
        raise UserError(f"support setting {name}: must not be negative")
    return value


def raw_settings(session: Session) -> dict[str, Any]:
    """Return every option's effective value (stored, else default)."""
    stored = {
        s.key[len(PREFIX):]: s.value
        for s in session.scalars(select(Setting).where(Setting.key.like(PREFIX + "%")))
    }
    return {name: coerce(name, stored.get(name, default))
            for name, (default, _, _) in OPTIONS.items()}


def load_settings(session: Session) -> SupportSettings:
    """Return the settings in force; a stored value that no longer parses is a UserError."""
    values = raw_settings(session)
    try:
        calendar = parse_business_hours(values["business_hours"], values["holidays"])
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    return SupportSettings(
        sla_hours=values["sla_hours"], calendar=calendar,
        ack_limits=AckLimits(per_hour=values["ack_per_hour"], per_day=values["ack_per_day"]),
        ack_max_age=timedelta(hours=values["ack_max_age_hours"])
        if values["ack_max_age_hours"] else None,
        ack_template=values["ack_template"], reopen_closed=values["reopen_closed"],
        create_contacts=values["create_contacts"], alert_webhook=values["alert_webhook"],
        sms_recipients=tuple(split_phones(values["sms_recipients"])),
        sms_per_hour=values["sms_per_hour"],
        burst_threshold=values["burst_threshold"], burst_seconds=values["burst_seconds"],
    )


def split_phones(value: str) -> list[str]:
    """Phone numbers, ``;``- or ``,``-separated, spaces and dashes dropped (``+49 151-2`` is
    ``+491512``); :class:`UserError` for anything that is not a number."""
    phones = []
    for part in value.replace(",", ";").split(";"):
        phone = "".join(part.split()).replace("-", "")
        if not phone:
            continue
        if not PHONE.fullmatch(phone):
            raise UserError(f"not a phone number: {part.strip()!r} (write it as +4915112345678)")
        phones.append(phone)
    return phones


def store_setting(session: Session, name: str, raw: str) -> None:
    """Validate and store one setting (the whole set must still parse)."""
    coerce(name, raw)
    row = session.get(Setting, PREFIX + name)
    if row is None:
        session.add(Setting(key=PREFIX + name, value=raw))
    else:
        row.value = raw
    session.flush()
    load_settings(session)


@dataclass
class Intake:
    """What the hook needs for one page of one support mailbox."""

    session: Session
    mailbox: Mailbox
    writer: Writer
    settings: SupportSettings

    @property
    def now(self) -> datetime:
        return self.writer.options.now
