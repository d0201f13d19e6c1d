"""Privacy rules as pure checks: what must never reach the CRM, and why.

Every check runs before anything is stored, and the same checks decide what an existing
activity must lose when a rule is added later (:func:`privacy_verdict` is used for both).
Erased and opted-out people are known only by :func:`address_hash`, so the suppression list
itself holds no address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from crmsync.mapping.addresses import domain_of, normalize_address
from crmsync.mapping.policy import CapturePolicy

__all__ = [
    "SENSITIVE_VALUES",
    "address_hash",
    "is_sensitive",
    "sensitivity_of",
    "privacy_verdict",
]

#: Values of the ``Sensitivity`` header (RFC 2156), Graph/EWS ``sensitivity`` and iCalendar
#: ``CLASS`` that mark an item as not for the CRM, lower-case.
SENSITIVE_VALUES = frozenset({"private", "personal", "confidential", "company-confidential"})

#: an activity's stored sensitivity: seen by its mailboxes' owners only, or as shared
PRIVATE = "private"
NORMAL = "normal"

SKIP_SENSITIVE = "marked private, personal or confidential"
SKIP_SUPPRESSED = "a participant was erased or opted out"
SKIP_BLOCKED = "a participant is blocked"
SKIP_DO_NOT_CAPTURE = "a participant is on the mailbox owner's do-not-capture list"


def address_hash(address: str) -> str:
    """Return the SHA-256 hex of the normalized ``address``: the suppression-list key.

    Normalizing first makes ``Ana@ACME.com`` and ``ana@acme.com`` one entry.
    """
    key = normalize_address(address) or address.strip().lower()
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def is_sensitive(headers: Mapping[str, str]) -> bool:
    """Return whether the item is marked private, personal or confidential.

    Reads ``sensitivity`` (mail header, or what a Graph/EWS connector puts there) and
    ``class`` (iCalendar, for meetings).
    """
    for name in ("sensitivity", "class"):
        value = (headers.get(name) or "").strip().lower()
        if value in SENSITIVE_VALUES:
            return True
    return False


def sensitivity_of(headers: Mapping[str, str]) -> str:
    """Return the item's sensitivity as stored: ``private`` when it is marked private,
    personal or confidential (:func:`is_sensitive`), else ``normal``.

    Stored per activity so that, when an organization captures such items, only the
    owner of a mailbox holding one sees it.
    """
    return PRIVATE if is_sensitive(headers) else NORMAL


def _within(domain: str, listed: Iterable[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in listed if d)


def _listed(address: str, entries: frozenset[str]) -> bool:
    """Whether ``address`` or its domain (or a domain above it) is in ``entries``."""
    if address in entries:
        return True
    return _within(domain_of(address), [e for e in entries if "@" not in e])


def privacy_verdict(
    addresses: Iterable[str], headers: Mapping[str, str], policy: CapturePolicy
) -> str | None:
    """Return why an item with these participants must not be captured, or ``None``.

    Sensitivity first, then, per participant: suppression, organization blocks, the
    owner's list.

    :param addresses: every participant's normalized address.
    :param headers: the item's headers (lower-case names), for its sensitivity.
    :param policy: the mailbox's policy with the organization's rules laid over it.
    """
    if not policy.capture_sensitive and is_sensitive(headers):
        # The sender asked for discretion: never captured unless the admin allowed it.
        return SKIP_SENSITIVE
    if not (policy.suppressed_hashes or policy.blocked_addresses or policy.blocked_domains
            or policy.do_not_capture):
        return None  # no rule names anybody (the default)
    for address in addresses:
        if policy.suppressed_hashes and address_hash(address) in policy.suppressed_hashes:
            # Erased or opted out: GDPR means the next sync must not bring them back.
            return SKIP_SUPPRESSED
        domain = domain_of(address)
        if address in policy.blocked_addresses or _within(domain, policy.blocked_domains):
            # Blocked by the organization (a law firm, a doctor, a competitor).
            return SKIP_BLOCKED
        if _listed(address, policy.do_not_capture):
            # The mailbox owner's own list (a spouse, a personal bank).
            return SKIP_DO_NOT_CAPTURE
    return None
