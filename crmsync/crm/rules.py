"""The organization's privacy rules: stored in tables and settings, read as one policy.

Defaults are the safe ones (see :class:`~crmsync.mapping.policy.CapturePolicy`): a fresh
install captures no sensitive item and keeps bodies; an admin blocks addresses and domains,
users keep their own do-not-capture lists.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from crmsync.crm.models import Setting, User
from crmsync.crm.privacy import PrivacyRule, SuppressedAddress
from crmsync.errors import UserError
from crmsync.mapping.addresses import canonical_domain, normalize_address
from crmsync.mapping.policy import CapturePolicy
from crmsync.mapping.privacy import address_hash

#: boolean settings (``settings`` rows) and their defaults
FLAG_SETTINGS = {
    "privacy.capture_sensitive": False,
    "privacy.store_body": True,
    "privacy.auto_create_contacts": False,
}
RULE_KINDS = ("block-address", "block-domain", "do-not-capture")
#: a domain name as DNS spells it (after IDNA): dot-separated labels of letters, digits, '-'
_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
#: the policy field each kind of rule fills
_POLICY_FIELD = {"block-address": "blocked_addresses", "block-domain": "blocked_domains",
                 "do-not-capture": "do_not_capture"}


def _flag(session: Session, key: str) -> bool:
    row = session.get(Setting, key)
    if row is None:
        return FLAG_SETTINGS[key]
    return row.value.strip().lower() in ("1", "true", "yes", "on")


def load_capture_rules(session: Session, user_id: int | None = None) -> CapturePolicy:
    """Return the organization's rules (and ``user_id``'s own list) as a policy.

    Four small queries, once per sync run, never per mail.
    """
    values: dict[str, set[str]] = {kind: set() for kind in RULE_KINDS}
    rows = session.execute(
        select(PrivacyRule.kind, PrivacyRule.value).where(
            or_(PrivacyRule.user_id.is_(None), PrivacyRule.user_id == user_id)
            if user_id is not None
            else PrivacyRule.user_id.is_(None)
        )
    )
    for kind, value in rows:
        # a kind this version does not know counts as the user's own list, as it always did
        values[kind if kind in values else "do-not-capture"].add(_as_matched(value))
    hashes = frozenset(session.scalars(select(SuppressedAddress.address_hash)))
    return CapturePolicy(
        capture_sensitive=_flag(session, "privacy.capture_sensitive"),
        store_body=_flag(session, "privacy.store_body"),
        blocked_addresses=frozenset(values["block-address"]),
        blocked_domains=frozenset(values["block-domain"]),
        suppressed_hashes=hashes,
        do_not_capture=frozenset(values["do-not-capture"]),
        auto_create_contacts=_flag(session, "privacy.auto_create_contacts"),
    )


def _as_matched(value: str) -> str:
    """Return a stored rule value in the form mail is matched in (rules stored before
    domains were canonical may hold an ``xn--`` spelling)."""
    if "@" in value:
        return normalize_address(value) or value
    return canonical_domain(value) or value


def with_rule(policy: CapturePolicy, kind: str, stored: str) -> CapturePolicy:
    """Return ``policy`` as it would be with one more rule (``stored``: its normalized
    value), for a dry run that stores nothing."""
    name = _POLICY_FIELD[kind]
    return replace(policy, **{name: getattr(policy, name) | {stored}})


def normalize_rule_value(kind: str, value: str) -> str:
    """Return the stored form of a rule's value: a normalized address or a lower-case domain.

    :raises UserError: unknown kind, or a value that is not an address/domain.
    """
    if kind not in RULE_KINDS:
        raise UserError(f"unknown rule kind {kind!r}", [f"one of: {', '.join(RULE_KINDS)}"])
    text = value.strip().lower().lstrip("@").strip(".")
    if kind == "block-domain" or (kind == "do-not-capture" and "@" not in text):
        return normalize_domain(value)
    address = normalize_address(text)
    if address is None:
        raise UserError(f"not a mail address: {value!r}")
    return address


def check_rule(kind: str, value: str, user_id: int | None) -> str:
    """Return the stored form of a rule's value, refusing a rule that cannot be stored.

    :raises UserError: see :func:`normalize_rule_value`; or a do-not-capture rule without
        the user whose list it belongs to.
    """
    stored = normalize_rule_value(kind, value)
    if kind == "do-not-capture" and user_id is None:
        raise UserError("a do-not-capture rule belongs to a user: give --user EMAIL")
    return stored


def audit_target(kind: str, value: str) -> str:
    """A rule as an audit row names it: a domain as is, an address only as its hash (an
    audit row never holds a customer's address)."""
    stored = normalize_rule_value(kind, value)
    return f"{kind}:sha256:{address_hash(stored)}" if "@" in stored else f"{kind}:{stored}"


def _same_rule(kind: str, stored: str, user_id: int | None) -> list:
    return [PrivacyRule.kind == kind, PrivacyRule.value == stored,
            PrivacyRule.user_id.is_(None) if user_id is None else PrivacyRule.user_id == user_id]


def normalize_domain(value: str) -> str:
    """Return a mail domain as stored: its canonical form, no leading ``@`` or dots.

    :raises UserError: it is not a domain name (international names are checked in their
        IDNA form, and kept in the form mail is matched in,
        :func:`~crmsync.mapping.addresses.canonical_domain`).
    """
    text = value.strip().lower().lstrip("@").strip(".")
    try:
        ascii_form = text.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_form = ""
    if not _DOMAIN.fullmatch(ascii_form):
        raise UserError(f"not a mail domain: {value[:100]!r}")
    return canonical_domain(text) or text


def add_rule(
    session: Session, kind: str, value: str, now: datetime, user_id: int | None = None
) -> PrivacyRule:
    """Store a rule (idempotent); the caller purges what it now forbids
    (:func:`crmsync.crm.erase.purge_for_rule` does both)."""
    stored = check_rule(kind, value, user_id)
    existing = session.scalars(select(PrivacyRule).where(*_same_rule(kind, stored, user_id))
                               ).first()
    if existing is not None:
        return existing
    rule = PrivacyRule(kind=kind, value=stored, user_id=user_id, created_at=now)
    session.add(rule)
    session.flush()
    return rule


def remove_rule(session: Session, kind: str, value: str, user_id: int | None = None) -> int:
    """Remove a rule; mail purged earlier stays purged. Returns how many rows went (0 or 1).

    :raises UserError: see :func:`normalize_rule_value`.
    """
    stored = normalize_rule_value(kind, value)
    result = session.execute(delete(PrivacyRule).where(*_same_rule(kind, stored, user_id)))
    return result.rowcount or 0


def rule_rows(session: Session) -> list[tuple[str, str, str | None]]:
    """Every rule as (kind, value, the email of the user whose list it is or None), oldest
    first."""
    return [tuple(row) for row in session.execute(
        select(PrivacyRule.kind, PrivacyRule.value, User.email)
        .outerjoin(User, User.id == PrivacyRule.user_id).order_by(PrivacyRule.id))]


def set_flag(session: Session, key: str, value: bool) -> None:
    """Store one of :data:`FLAG_SETTINGS`."""
    if key not in FLAG_SETTINGS:
        raise UserError(f"unknown privacy setting {key!r}", list(FLAG_SETTINGS))
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value="true" if value else "false"))
    else:
        row.value = "true" if value else "false"
