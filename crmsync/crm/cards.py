"""vCards into CRM contacts (deduplicated by address, conflicts listed and kept as
suggestions) and back out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crmsync.connectors.base import ContactCard
from crmsync.crm.contact_publishing import suggest
from crmsync.crm.models import Contact, ContactEmail
from crmsync.mapping.directory import AccountEntry, Directory
from crmsync.mapping.vcard import card_key, card_vcard, plan_card


def import_cards(
    session: Session,
    cards: list[ContactCard],
    directory: Directory,
    *,
    create_unknown: bool = True,
    source: str = "",
    now: datetime | None = None,
) -> tuple[Counter[str], list[str]]:
    """Create or complete contacts from ``cards``; never overwrite a value the CRM holds.

    A card matches the contact holding any of its addresses (one query for the whole
    batch). A new contact joins the account that owns its domain, if any.

    :param create_unknown: create contacts for cards no contact matches; a mailbox's
        address book passes ``False`` so that only people at a CRM account's domain are
        created (a rep's private contacts stay out of the CRM).
    :param source: where the cards come from; each conflict is then also kept as a
        suggestion (``crmsync contacts suggestions``) from that source.
    :returns: counts and one line per conflict (contact, field, CRM value, card value).
    """
    counts: Counter[str] = Counter()
    conflicts: list[str] = []
    owners = _owners(session, {a.lower() for c in cards for a in c.emails})
    for card in cards:
        emails = tuple(dict.fromkeys(a.lower() for a in card.emails))
        contact = next((owners[a] for a in emails if a in owners), None)
        if not emails:
            counts["skipped (no address)"] += 1
        elif contact is None and not (create_unknown or _account(directory, emails)):
            counts["skipped (no CRM account for the domain)"] += 1
        elif contact is None:
            contact = _create(session, card, emails, directory)
            owners.update((e.address, contact) for e in contact.emails)
            counts["created"] += 1
        else:
            found = _complete(contact, card, emails, owners)
            counts["updated" if session.is_modified(contact) else "unchanged"] += 1
            conflicts += [f"{contact.external_id}\t{f}\t{crm}\t{value}"
                          for f, crm, value in found]
            for conflict in found if source else ():
                suggest(session, contact, conflict, source, now or datetime.now(UTC))
    session.flush()
    return counts, conflicts


def _owners(session: Session, addresses: set[str]) -> dict[str, Contact]:
    """Return the contact holding each of ``addresses`` that a contact holds."""
    rows = session.execute(
        select(ContactEmail.address, Contact).join(Contact.emails)
        .where(ContactEmail.address.in_(addresses)).options(selectinload(Contact.emails))
    ) if addresses else []
    return {address: contact for address, contact in rows}


def complete_contact(session: Session, contact: Contact, card: ContactCard, source: str,
                     now: datetime) -> int:
    """Apply the vCard rule to one known contact (an edit made in a CRM contact folder):
    blanks and new addresses filled, each differing value kept as a suggestion.

    :returns: how many values differed.
    """
    emails = tuple(dict.fromkeys(a.lower() for a in card.emails))
    owners = _owners(session, set(emails))
    owners.update((e.address, contact) for e in contact.emails)
    found = _complete(contact, card, emails, owners)
    for conflict in found:
        suggest(session, contact, conflict, source, now)
    return len(found)


def _complete(contact: Contact, card: ContactCard, emails: tuple[str, ...],
              owners: dict[str, Contact]) -> list[tuple[str, str, str]]:
    """Fill the contact's blank fields and new addresses; return the conflicts
    (field, CRM value, card value)."""
    current = {"first_name": contact.first_name, "last_name": contact.last_name,
               "phone": contact.phone, "title": contact.title}
    plan = plan_card(card, current)
    for field_name, value in plan.fill.items():
        setattr(contact, field_name, value)
    for address in emails:
        if address not in owners:
            contact.emails.append(ContactEmail(address=address))
            owners[address] = contact
    return list(plan.conflicts)


def _account(directory: Directory, emails: tuple[str, ...]) -> AccountEntry | None:
    """Return the account that owns the domain of one of ``emails``, if any."""
    for address in emails:
        account = directory.account_for_domain(address.rpartition("@")[2])
        if account is not None:
            return account
    return None


def _create(session: Session, card: ContactCard, emails: tuple[str, ...],
            directory: Directory) -> Contact:
    account = _account(directory, emails)
    contact = Contact(
        external_id=card_key(card), first_name=card.given_name[:200],
        last_name=card.surname[:200] or ("" if card.given_name else card.display_name[:200]),
        phone=(card.phones[0] if card.phones else "")[:100], title=card.job_title[:200],
        account_id=account.id if account else None,
        emails=[ContactEmail(address=a) for a in emails],
    )
    session.add(contact)
    return contact


def export_cards(session: Session) -> Iterator[str]:
    """Yield every CRM contact as a vCard 3.0."""
    for contact in session.scalars(
        select(Contact).order_by(Contact.id).options(
            selectinload(Contact.emails), selectinload(Contact.account))
    ):
        fields = {"first_name": contact.first_name, "last_name": contact.last_name,
                  "phone": contact.phone, "title": contact.title,
                  "org": contact.account.name if contact.account else ""}
        yield card_vcard(fields, [e.address for e in contact.emails], contact.external_id)
