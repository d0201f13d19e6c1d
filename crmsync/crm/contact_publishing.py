"""Which CRM contacts go to which rep's address book, what was written, what came back.

- :class:`ContactPublishRule`: per user or per team, whose accounts' contacts are kept
  in the rep's "CRM" contact folder: ``owned`` (accounts the rep owns), ``team``
  (accounts anyone of the rep's team owns), ``all``, or ``none``. A user's rule wins
  over their team's; without either nothing is published.
- :class:`PublishedContact`: one contact written to one mailbox's CRM folder: its id
  there, the change key it had after our write or our last look, and a hash of what we
  wrote (so a CRM change is written again). Its contact may be gone (erased): the row
  then only says which folder item to remove.
- :class:`ContactSuggestion`: a value a card (a vCard file, a mailbox's address book, an
  edit in the CRM folder) holds that differs from the CRM's; listed for a person to
  settle (``crmsync contacts suggestions``), never written over the CRM's value.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column, selectinload

from crmsync.connectors.base import ContactCard
from crmsync.connectors.contact_folders import CRM_FOLDER
from crmsync.crm.models import Account, Base, Contact, User, UtcDateTime

SCOPES = ("owned", "team", "all", "none")


class ContactPublishRule(Base):
    """Whose accounts' contacts a user (or every user of a team) gets in the CRM folder."""

    __tablename__ = "contact_publish_rules"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_subject"),
        CheckConstraint("accounts IN ('owned', 'team', 'all', 'none')", name="scope"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), unique=True)
    accounts: Mapped[str] = mapped_column(String(10))


class PublishedContact(Base):
    """One CRM contact as written to one mailbox's CRM folder (see the module docstring)."""

    __tablename__ = "published_contacts"
    __table_args__ = (UniqueConstraint("mailbox_id", "contact_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    #: ``None`` once the CRM contact is gone: the folder item is then removed
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    remote_id: Mapped[str] = mapped_column(String(1000))
    change_key: Mapped[str] = mapped_column(String(500))
    #: SHA-256 of the card as we last wrote it
    written_hash: Mapped[str] = mapped_column(String(64))


class ContactSuggestion(Base):
    """A differing value for one field of one CRM contact, waiting for a person."""

    __tablename__ = "contact_suggestions"
    __table_args__ = (UniqueConstraint("contact_id", "field", "suggested_value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(50))
    crm_value: Mapped[str] = mapped_column(String(300))
    suggested_value: Mapped[str] = mapped_column(String(300))
    #: where it came from: ``vCard import people.vcf``, ``CRM folder of mailbox maria``
    source: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


def suggest(session: Session, contact: Contact, conflict: tuple[str, str, str], source: str,
            now: datetime) -> None:
    """Record one (field, CRM value, card value) conflict; one already listed is kept."""
    field_name, crm_value, card_value = conflict[0], conflict[1][:300], conflict[2][:300]
    if contact.id is None:
        session.flush()
    exists = session.scalar(select(ContactSuggestion.id).where(
        ContactSuggestion.contact_id == contact.id, ContactSuggestion.field == field_name,
        ContactSuggestion.suggested_value == card_value))
    if exists is None:
        session.add(ContactSuggestion(contact_id=contact.id, field=field_name,
                                      crm_value=crm_value, suggested_value=card_value,
                                      source=source[:300], created_at=now))


def scope_for(session: Session, user: User) -> str:
    """The user's rule, else their team's, else ``none``."""
    rules = {(r.user_id, r.team_id): r.accounts for r in session.scalars(
        select(ContactPublishRule).where(or_(
            ContactPublishRule.user_id == user.id,
            ContactPublishRule.team_id == user.team_id if user.team_id else False)))}
    return rules.get((user.id, None)) or rules.get((None, user.team_id)) or "none"


def contacts_in_scope(session: Session, user: User) -> list[Contact]:
    """The contacts of the accounts the user's rule names (none without a rule)."""
    scope = scope_for(session, user)
    if scope == "none":
        return []
    query = select(Contact).join(Account, Contact.account_id == Account.id)
    if scope == "owned" or (scope == "team" and user.team_id is None):
        query = query.where(Account.owner_id == user.id)
    elif scope == "team":
        team = select(User.id).where(User.team_id == user.team_id)
        query = query.where(Account.owner_id.in_(team))
    return list(session.scalars(query.order_by(Contact.id).options(
        selectinload(Contact.emails), selectinload(Contact.account))))


def contact_card(contact: Contact) -> ContactCard:
    """The card written to the CRM folder for ``contact`` (its key: ``crm-<external id>``)."""
    emails = tuple(e.address for e in contact.emails)
    return ContactCard(
        item_id=f"crm-{contact.external_id}", folder=CRM_FOLDER,
        display_name=contact.full_name or (emails[0] if emails else contact.external_id),
        emails=emails, given_name=contact.first_name, surname=contact.last_name,
        company=contact.account.name if contact.account else "", job_title=contact.title,
        phones=(contact.phone,) if contact.phone else ())
