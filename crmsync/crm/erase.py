"""Erase what the CRM holds about one address, and purge what a new rule now forbids.

Erasure (GDPR art. 17): participant rows, activity bodies, quarantined raw mail, meeting
answers and the contact itself go; cases keep a redacted stub; the address's hash joins the
suppression list so the next sync does not bring it back; an audit row records the counts,
never the address.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from crmsync.crm.meetings import MeetingResponse
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
from crmsync.errors import UserError
from crmsync.mapping.addresses import normalize_address
from crmsync.mapping.policy import CapturePolicy
from crmsync.mapping.privacy import address_hash, privacy_verdict

REDACTED = "[erased]"
BATCH = 500


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
        select(Activity.id).where(Activity.body_text.contains(key))
    ))
    result = session.execute(delete(ActivityParticipant).where(ActivityParticipant.address == key))
    removed["participants"] += result.rowcount or 0
    for activity in session.scalars(select(Activity).where(Activity.id.in_(activity_ids))):
        if activity.body_text is not None:
            activity.body_text = None
            removed["bodies"] += 1
        activity.subject = activity.subject.replace(key, REDACTED)
    result = session.execute(delete(MeetingResponse).where(MeetingResponse.address == key))
    removed["meeting_responses"] += result.rowcount or 0
    needle = key.encode()
    for item in session.scalars(select(QuarantinedItem)):
        if needle in item.raw.lower():
            session.delete(item)
            removed["quarantined"] += 1
    for case in session.scalars(select(Case).where(
        Case.description.contains(key) | Case.subject.contains(key)
    )):
        # The case stays (a redacted stub): its history matters, the address does not.
        case.description = case.description.replace(key, REDACTED)
        case.subject = case.subject.replace(key, REDACTED)
        removed["cases_redacted"] += 1


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
