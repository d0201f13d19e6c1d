"""Erase what the CRM holds about one address, and purge what a new rule now forbids.

Erasure (GDPR art. 17): participant rows, activity bodies, quarantined raw mail, meeting
answers and the contact itself go; cases keep a redacted stub; every other text that quotes
the address (a support case's requester, the outbox, link reasons, alerts, a meeting's
iCalendar) has it replaced, and mail still waiting to go to it is suppressed; the address's
hash joins the suppression list so the next sync does not bring it back; an audit row
records the counts, never the address.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from crmsync.crm.links import LinkSuggestion
from crmsync.crm.meetings import MeetingResponse, MeetingSeries
from crmsync.crm.models import (
    Activity,
    ActivityLink,
    ActivityParticipant,
    ActivitySource,
    Case,
    Contact,
    ContactEmail,
    Mailbox,
    QuarantinedItem,
)
from crmsync.crm.privacy import ErasureRecord, SuppressedAddress
from crmsync.crm.rules import add_rule, check_rule, load_capture_rules, with_rule
from crmsync.crm.support import OutboxMessage, SupportAlert, SupportCase, SupportIntake
from crmsync.errors import UserError
from crmsync.mapping.addresses import normalize_address
from crmsync.mapping.policy import CapturePolicy
from crmsync.mapping.privacy import address_hash, privacy_verdict

REDACTED = "[erased]"
BATCH = 500
#: rows that stay (a case's history, a link, a delivery record) but whose text may quote
#: an address: each column named here has the address replaced by :data:`REDACTED`
QUOTING_COLUMNS: tuple[tuple[type[Any], tuple[str, ...]], ...] = (
    (Activity, ("subject",)),
    (Case, ("subject", "description")),
    (SupportCase, ("requester",)),
    (SupportIntake, ("sender", "outcome")),
    (SupportAlert, ("detail",)),
    (OutboxMessage, ("to_address", "subject", "body", "reason", "last_error")),
    (ActivityLink, ("reason",)),
    (LinkSuggestion, ("reason",)),
    (MeetingSeries, ("ical",)),
)
#: outbox states in which nothing has reached a server yet: such mail to an erased
#: address is never sent
UNSENT = ("pending", "claimed")


def suppress(session: Session, address: str, reason: str, now: datetime) -> str:
    """Add ``address``'s hash to the suppression list (idempotent); return the hash."""
    digest = address_hash(address)
    exists = session.scalar(
        select(SuppressedAddress.id).where(SuppressedAddress.address_hash == digest)
    )
    if exists is None:
        session.add(SuppressedAddress(address_hash=digest, reason=reason, created_at=now))
    return digest


def erase_address(session: Session, address: str, now: datetime) -> Counter[str]:
    """Remove everything held for ``address`` and suppress it; return what was removed.

    :raises UserError: ``address`` is not a mail address.
    """
    key = normalize_address(address)
    if key is None:
        raise UserError(f"not a mail address: {address!r}")
    removed: Counter[str] = Counter()
    addresses = {key} | _contact_addresses(session, key)
    for each in sorted(addresses):
        _erase_one(session, each, removed)
    removed["contacts"] += _delete_contacts(session, addresses)
    digest = suppress(session, key, "erased", now)
    for each in sorted(addresses - {key}):
        suppress(session, each, "erased", now)  # the same person's other addresses
    session.add(ErasureRecord(address_hash=digest, removed=dict(removed), created_at=now))
    return removed


def _contact_addresses(session: Session, key: str) -> set[str]:
    """The other addresses of the contact holding ``key``: the same person."""
    contact_id = session.scalar(select(ContactEmail.contact_id).where(ContactEmail.address == key))
    if contact_id is None:
        return set()
    return set(session.scalars(select(ContactEmail.address).where(
        ContactEmail.contact_id == contact_id
    )))


def _erase_one(session: Session, key: str, removed: Counter[str]) -> None:
    activity_ids = set(session.scalars(
        select(ActivityParticipant.activity_id).where(ActivityParticipant.address == key)
    ))
    activity_ids |= set(session.scalars(
        select(Activity.id).where(func.lower(Activity.body_text).contains(key, autoescape=True))
    ))
    result = session.execute(delete(ActivityParticipant).where(ActivityParticipant.address == key))
    removed["participants"] += result.rowcount or 0
    for activity in session.scalars(select(Activity).where(Activity.id.in_(activity_ids))):
        if activity.body_text is not None:
            activity.body_text = None
            removed["bodies"] += 1
    result = session.execute(delete(MeetingResponse).where(MeetingResponse.address == key))
    removed["meeting_responses"] += result.rowcount or 0
    needle = key.encode()
    for item in session.scalars(select(QuarantinedItem)):
        if needle in item.raw.lower():
            session.delete(item)
            removed["quarantined"] += 1
    _forget_mail_to(session, key, removed)
    for model, columns in QUOTING_COLUMNS:
        removed[f"{model.__tablename__}_redacted"] += _redact_rows(session, model, columns, key)


def _forget_mail_to(session: Session, key: str, removed: Counter[str]) -> None:
    """Mail to ``key`` is never sent if it has not gone yet, and its text is dropped.

    The text is a template filled with the person's name and their own words, found by
    no address; the row stays as the record of what was sent when.
    """
    to_key = func.lower(OutboxMessage.to_address) == key
    for row in session.scalars(select(OutboxMessage).where(to_key)):
        if row.status in UNSENT:
            row.status, row.reason = "suppressed", "the recipient was erased"
            removed["outbox_suppressed"] += 1
        row.body = REDACTED


def _redact(text: str, key: str) -> str:
    """``text`` with every spelling of ``key`` (any letter case) replaced."""
    return re.sub(re.escape(key), REDACTED, text, flags=re.IGNORECASE)


def _redact_rows(session: Session, model: type[Any], columns: tuple[str, ...], key: str) -> int:
    """Replace ``key`` in ``columns`` of every ``model`` row quoting it; return the count.

    The rows stay: a case is kept as a redacted stub (its number and history matter, the
    address does not), an outbox row still records what was sent and when.
    """
    quoting = or_(*(func.lower(getattr(model, column)).contains(key, autoescape=True)
                      for column in columns))
    count = 0
    for row in session.scalars(select(model).where(quoting)):
        for column in columns:
            value = getattr(row, column)
            if value:
                setattr(row, column, _redact(value, key))
        count += 1
    return count


def _delete_contacts(session: Session, addresses: set[str]) -> int:
    contact_ids = set(session.scalars(
        select(ContactEmail.contact_id).where(ContactEmail.address.in_(addresses))
    ))
    if not contact_ids:
        return 0
    session.execute(delete(ActivityLink).where(ActivityLink.contact_id.in_(contact_ids)))
    session.execute(update(ActivityParticipant).where(
        ActivityParticipant.contact_id.in_(contact_ids)).values(contact_id=None))
    session.execute(update(Case).where(Case.contact_id.in_(contact_ids)).values(contact_id=None))
    for contact in session.scalars(select(Contact).where(Contact.id.in_(contact_ids))):
        session.delete(contact)  # its addresses and deal roles go with it
    session.flush()
    return len(contact_ids)


def purge_for_rule(
    session: Session, kind: str, value: str, now: datetime, user_id: int | None = None,
    dry_run: bool = False,
) -> list[tuple[int, str, str]]:
    """Add a privacy rule and purge the mail already captured that it forbids; with
    ``dry_run``, store and purge nothing and return what saving it would purge.

    The dry run and the real thing are one computation (:func:`purge_forbidden` over the
    rules as they are with this one added), so what a dry run lists is what Save purges.

    :param user_id: the user whose do-not-capture list the rule joins (None: the
        organization's rule).
    :returns: (activity id, subject, reason) of each activity purged (or that would be).
    :raises UserError: the rule is not valid (see :func:`~crmsync.crm.rules.check_rule`).
    """
    stored = check_rule(kind, value, user_id)
    policy = with_rule(load_capture_rules(session, user_id), kind, stored)
    if not dry_run:
        add_rule(session, kind, value, now, user_id)
    return purge_forbidden(session, policy, user_id, dry_run=dry_run)


def purge_forbidden(
    session: Session, policy: CapturePolicy, owner_id: int | None = None, dry_run: bool = False
) -> list[tuple[int, str, str]]:
    """Apply the current rules to mail already captured: purge what they now forbid.

    Organization rules delete the activity. A user's own list (``owner_id`` given, with that
    user's rules in ``policy``) removes only the copies in that user's mailboxes; the
    activity goes when no copy is left. With ``store_body`` off, bodies are dropped.

    :returns: (activity id, subject, reason) of each activity purged (or that would be).
    """
    mailbox_ids = set()
    if owner_id is not None:
        mailbox_ids = set(session.scalars(select(Mailbox.id).where(Mailbox.owner_id == owner_id)))
    purged: list[tuple[int, str, str]] = []
    last = 0
    while True:
        batch = session.scalars(
            select(Activity).where(Activity.id > last).order_by(Activity.id).limit(BATCH)
            .options(selectinload(Activity.participants), selectinload(Activity.sources))
        ).all()
        if not batch:
            return purged
        for activity in batch:
            reason = privacy_verdict([p.address for p in activity.participants], {}, policy)
            if reason is not None:
                if not dry_run:
                    _purge(session, activity, mailbox_ids if owner_id is not None else None)
                purged.append((activity.id, activity.subject, reason))
            elif not policy.store_body and activity.body_text is not None and not dry_run:
                activity.body_text = None
        last = batch[-1].id


def _purge(session: Session, activity: Activity, mailbox_ids: set[int] | None) -> None:
    if mailbox_ids is None:
        session.delete(activity)
        return
    session.execute(delete(ActivitySource).where(
        ActivitySource.activity_id == activity.id, ActivitySource.mailbox_id.in_(mailbox_ids)
    ))
    left = session.scalar(select(ActivitySource.id).where(
        ActivitySource.activity_id == activity.id
    ))
    if left is None:
        session.delete(activity)
