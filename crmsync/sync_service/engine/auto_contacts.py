"""Create contacts for unknown external participants at an account's domain (opt-in).

With the ``privacy.auto_create_contacts`` rule on, a captured mail from or to someone the
CRM does not know, at a domain an account owns, adds that person as a contact of the
account, so the next mail links to them by address rather than by domain only. Off by
default: a CRM fills up with whoever mails in. People the privacy rules refuse never
reach this point (their mail is not captured), colleagues and free-mail addresses never
qualify (free-mail domains identify no account).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import select

from crmsync.connectors.base import MailMessage
from crmsync.crm.models import Contact, ContactEmail
from crmsync.mapping import MailDecision, decide_mail
from crmsync.mapping.addresses import domain_of
from crmsync.mapping.directory import AccountEntry, ContactEntry

if TYPE_CHECKING:
    from crmsync.sync_service.engine.linking import ThreadIndex
    from crmsync.sync_service.engine.page import Writer


def create_participant_contacts(
    writer: Writer, mails: Sequence[MailMessage], threads: ThreadIndex
) -> int:
    """Create the contacts the page's captured mail calls for; return how many.

    A dry decision pass finds the mail that would be captured; the new contacts are
    inserted with one statement per table and added to ``writer.directory``. The caller
    decides the page again (with a fresh thread index) when this returns more than 0.
    """
    wanted: dict[str, tuple[str, AccountEntry]] = {}
    for _mail, decision in threads.decide_all(mails, lambda m: _dry(writer, threads, m)):
        if decision is None or decision.action != "capture":
            continue
        for p in decision.participants:
            account = None if p.contact_id is not None or p.is_internal else \
                writer.directory.account_for_domain(domain_of(p.address))
            if account is not None:
                wanted.setdefault(p.address, (p.name, account))
    if not wanted:
        return 0
    session = writer.session
    taken = set(session.scalars(select(ContactEmail.address).where(
        ContactEmail.address.in_(list(wanted)))))
    new = {a: v for a, v in wanted.items() if a not in taken}
    if not new:
        return 0
    session.execute(Contact.__table__.insert(), [
        {"external_id": _external_id(a), **_names(name, a), "phone": "", "title": "",
         "account_id": account.id} for a, (name, account) in new.items()])
    ids = dict(iter(session.execute(select(Contact.external_id, Contact.id).where(
        Contact.external_id.in_([_external_id(a) for a in new])))))
    session.execute(ContactEmail.__table__.insert(), [
        {"address": a, "contact_id": ids[_external_id(a)]} for a in new])
    entries = {a: ContactEntry(id=ids[_external_id(a)], external_id=_external_id(a),
                               name=name or a, account_id=account.id)
               for a, (name, account) in new.items()}
    writer.directory = replace(writer.directory, contacts_by_address={
        **writer.directory.contacts_by_address, **entries})
    writer.counters["contacts created automatically"] += len(new)
    return len(new)


def _dry(writer: Writer, threads: ThreadIndex, mail: MailMessage) -> MailDecision | None:
    """Decide ``mail`` without side effects; a mapping failure is left to the real pass."""
    try:
        return decide_mail(mail, writer.directory, now=writer.options.now,
                           policy=writer.options.policy, thread=threads.links_for(mail),
                           facts=writer.facts_of(mail))
    except Exception:  # noqa: BLE001 - the real pass quarantines it with the traceback
        return None


def _external_id(address: str) -> str:
    """A stable id, so a later CRM export/import round trip recognizes the contact."""
    return "auto:" + hashlib.sha256(address.encode()).hexdigest()[:16]


def _names(name: str, address: str) -> dict[str, str]:
    """Split a display name into first and last name; the address's local part if none."""
    first, _, last = name.strip().partition(" ")
    if not last:
        return {"first_name": "", "last_name": (first or address.partition("@")[0])[:200]}
    return {"first_name": first[:200], "last_name": last.strip()[:200]}
