"""The organization's privacy rules: stored in tables and settings, read as one policy.

Defaults are the safe ones (see :class:`~crmsync.mapping.policy.CapturePolicy`): a fresh
install captures no sensitive item and keeps bodies; an admin blocks addresses and domains,
users keep their own do-not-capture lists.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crmsync.crm.models import Setting
from crmsync.crm.privacy import PrivacyRule, SuppressedAddress
from crmsync.errors import UserError
from crmsync.mapping.addresses import normalize_address
from crmsync.mapping.policy import CapturePolicy

#: boolean settings (``settings`` rows) and their defaults
FLAG_SETTINGS = {
    "privacy.capture_sensitive": False,
    "privacy.store_body": True,
    "privacy.auto_create_contacts": False,
}
RULE_KINDS = ("block-address", "block-domain", "do-not-capture")


def _flag(session: Session, key: str) -> bool:
    row = session.get(Setting, key)
    if row is None:
        return FLAG_SETTINGS[key]
    return row.value.strip().lower() in ("1", "true", "yes", "on")


def load_capture_rules(session: Session, user_id: int | None = None) -> CapturePolicy:
    """Return the organization's rules (and ``user_id``'s own list) as a policy.

    Four small queries, once per sync run, never per mail.
    """
    blocked_addresses: set[str] = set()
    blocked_domains: set[str] = set()
    own: set[str] = set()
    rows = session.execute(
        select(PrivacyRule.kind, PrivacyRule.value).where(
            or_(PrivacyRule.user_id.is_(None), PrivacyRule.user_id == user_id)
            if user_id is not None
            else PrivacyRule.user_id.is_(None)
        )
    )
    for kind, value in rows:
        if kind == "block-address":
            blocked_addresses.add(value)
        elif kind == "block-domain":
            blocked_domains.add(value)
        else:
            own.add(value)
    hashes = frozenset(session.scalars(select(SuppressedAddress.address_hash)))
    return CapturePolicy(
        capture_sensitive=_flag(session, "privacy.capture_sensitive"),
        store_body=_flag(session, "privacy.store_body"),
        blocked_addresses=frozenset(blocked_addresses),
        blocked_domains=frozenset(blocked_domains),
        suppressed_hashes=hashes,
        do_not_capture=frozenset(own),
        auto_create_contacts=_flag(session, "privacy.auto_create_contacts"),
    )


def normalize_rule_value(kind: str, value: str) -> str:
    """Return the stored form of a rule's value: a normalized address or a lower-case domain.

    :raises UserError: unknown kind, or a value that is not an address/domain.
    """
    if kind not in RULE_KINDS:
        raise UserError(f"unknown rule kind {kind!r}", [f"one of: {', '.join(RULE_KINDS)}"])
    text = value.strip().lower().lstrip("@").strip(".")
    if kind == "block-domain" or (kind == "do-not-capture" and "@" not in text):
        if not text or "." not in text or " " in text:
            raise UserError(f"not a mail domain: {value!r}")
        return text
    address = normalize_address(text)
    if address is None:
        raise UserError(f"not a mail address: {value!r}")
    return address


def add_rule(
    session: Session, kind: str, value: str, now: datetime, user_id: int | None = None
) -> PrivacyRule:
    """Store a rule (idempotent); the caller purges what it now forbids."""
    stored = normalize_rule_value(kind, value)
    if kind == "do-not-capture" and user_id is None:
        raise UserError("a do-not-capture rule belongs to a user: give --user EMAIL")
    existing = session.scalars(
        select(PrivacyRule).where(
            PrivacyRule.kind == kind, PrivacyRule.value == stored,
            PrivacyRule.user_id.is_(None) if user_id is None else PrivacyRule.user_id == user_id,
        )
    ).first()
    if existing is not None:
        return existing
    rule = PrivacyRule(kind=kind, value=stored, user_id=user_id, created_at=now)
    session.add(rule)
    session.flush()
    return rule


def set_flag(session: Session, key: str, value: bool) -> None:
    """Store one of :data:`FLAG_SETTINGS`."""
    if key not in FLAG_SETTINGS:
        raise UserError(f"unknown privacy setting {key!r}", list(FLAG_SETTINGS))
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value="true" if value else "false"))
    else:
        row.value = "true" if value else "false"
