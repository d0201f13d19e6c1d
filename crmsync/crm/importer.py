"""Load CRM data from CSV files (columns in docs/csv.md), idempotent on keys.

Users are keyed by email, everything else by ``external_id``; importing the
same file twice changes nothing, importing an edited file updates the rows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.models import (
    Account,
    AccountDomain,
    Contact,
    ContactEmail,
    Opportunity,
    OpportunityContact,
    Team,
    User,
)
from crmsync.crm.sign_in import ROLES
from crmsync.errors import UserError
from crmsync.mapping.addresses import canonical_domain, normalize_address

CLOSED_STAGES = frozenset({"closed won", "closed lost"})


@dataclass
class ImportReport:
    """What an import did, per kind: ``{"contacts": {"created": 3, "updated": 1}}``."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, kind: str, outcome: str) -> None:
        bucket = self.counts.setdefault(kind, {"created": 0, "updated": 0})
        bucket[outcome] = bucket.get(outcome, 0) + 1


def _rows(path: Path, required: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = required - set(reader.fieldnames or ())
        if missing:
            raise UserError(f"{path}: missing columns {', '.join(sorted(missing))}")
        for number, row in enumerate(reader, start=2):
            yield number, {k: (v or "").strip() for k, v in row.items() if k}


def _split(value: str) -> list[str]:
    return [part.strip().lower() for part in value.replace(",", ";").split(";") if part.strip()]


def _domains(value: str) -> list[str]:
    """Return a cell's domains in the form mail is matched in (``xn--`` or Unicode alike)."""
    return list(dict.fromkeys(canonical_domain(part) or part for part in _split(value)))


def _addresses(value: str) -> list[str]:
    """Return a cell's addresses in the form mail is matched in (quotes, IDNA, case)."""
    return list(dict.fromkeys(normalize_address(part) or part for part in _split(value)))


def _get_or_new(session: Session, model, report: ImportReport, kind: str, **key):
    row = session.scalars(select(model).filter_by(**key)).one_or_none()
    if row is None:
        row = model(**key)
        session.add(row)
        report.count(kind, "created")
    else:
        report.count(kind, "updated")
    return row


def _user_id(session: Session, email: str) -> int | None:
    if not email:
        return None
    return session.scalars(select(User.id).where(User.email == email.lower())).one_or_none()


def import_users(session: Session, path: Path, report: ImportReport) -> None:
    for line, row in _rows(path, {"email", "name"}):
        role = (row.get("role") or "rep").lower()
        if role not in ROLES:
            raise UserError(f"{path}:{line}: role {role!r} is not one of {sorted(ROLES)}")
        user = _get_or_new(session, User, report, "users", email=row["email"].lower())
        user.name, user.role = row["name"], role
        if row.get("team"):
            team = session.scalars(select(Team).filter_by(name=row["team"])).one_or_none()
            user.team = team or Team(name=row["team"])
        session.flush()


def import_accounts(session: Session, path: Path, report: ImportReport) -> None:
    for line, row in _rows(path, {"external_id", "name", "domains"}):
        account = _get_or_new(
            session, Account, report, "accounts", external_id=row["external_id"]
        )
        account.name = row["name"]
        account.owner_id = _user_id(session, row.get("owner_email", ""))
        wanted = _domains(row["domains"])
        for domain in wanted:
            owner = session.scalars(
                select(AccountDomain).where(AccountDomain.domain == domain)
            ).one_or_none()
            if owner is not None and owner.account is not account:
                raise UserError(
                    f"{path}:{line}: domain {domain} already belongs to account "
                    f"{owner.account.external_id}"
                )
        kept = {d.domain: d for d in account.domains}
        account.domains = [kept.get(name) or AccountDomain(domain=name) for name in wanted]
        session.flush()


def _account_id(session: Session, external_id: str, where: str) -> int | None:
    if not external_id:
        return None
    found = session.scalars(select(Account.id).filter_by(external_id=external_id)).one_or_none()
    if found is None:
        raise UserError(f"{where}: unknown account {external_id!r} (import accounts first)")
    return found


def import_contacts(session: Session, path: Path, report: ImportReport) -> None:
    required = {"external_id", "first_name", "last_name", "emails"}
    for line, row in _rows(path, required):
        contact = _get_or_new(
            session, Contact, report, "contacts", external_id=row["external_id"]
        )
        contact.first_name, contact.last_name = row["first_name"], row["last_name"]
        contact.phone, contact.title = row.get("phone", ""), row.get("title", "")
        contact.account_id = _account_id(
            session, row.get("account_external_id", ""), f"{path}:{line}"
        )
        wanted = _addresses(row["emails"])
        for address in wanted:
            owner = session.scalars(
                select(ContactEmail).where(ContactEmail.address == address)
            ).one_or_none()
            if owner is not None and owner.contact is not contact:
                raise UserError(
                    f"{path}:{line}: {address} already belongs to contact "
                    f"{owner.contact.external_id}"
                )
        kept = {e.address: e for e in contact.emails}
        contact.emails = [kept.get(a) or ContactEmail(address=a) for a in wanted]
        session.flush()


def _parse_amount(value: str, where: str) -> Decimal | None:
    if not value:
        return None
    try:
        return Decimal(value.replace(",", ""))
    except InvalidOperation as exc:
        raise UserError(f"{where}: amount {value!r} is not a number") from exc


def _parse_date(value: str, where: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UserError(f"{where}: close_date {value!r} is not YYYY-MM-DD") from exc


def import_opportunities(session: Session, path: Path, report: ImportReport) -> None:
    for line, row in _rows(path, {"external_id", "name", "account_external_id"}):
        where = f"{path}:{line}"
        opp = _get_or_new(
            session, Opportunity, report, "opportunities", external_id=row["external_id"]
        )
        opp.name, opp.stage = row["name"], row.get("stage", "")
        opp.is_closed = opp.stage.lower() in CLOSED_STAGES
        opp.account_id = _account_id(session, row["account_external_id"], where)
        opp.amount = _parse_amount(row.get("amount", ""), where)
        opp.close_date = _parse_date(row.get("close_date", ""), where)
        opp.owner_id = _user_id(session, row.get("owner_email", ""))
        session.flush()
        _set_opportunity_contacts(session, opp, _addresses(row.get("contact_emails", "")),
                                  where)


def _set_opportunity_contacts(
    session: Session, opp: Opportunity, addresses: list[str], where: str
) -> None:
    contact_ids = []
    for address in addresses:
        found = session.scalars(
            select(ContactEmail.contact_id).where(ContactEmail.address == address)
        ).one_or_none()
        if found is None:
            raise UserError(f"{where}: no contact has the address {address}")
        contact_ids.append(found)
    existing = session.scalars(
        select(OpportunityContact).filter_by(opportunity_id=opp.id)
    ).all()
    for row in existing:
        if row.contact_id not in contact_ids:
            session.delete(row)
    known = {row.contact_id for row in existing}
    for contact_id in dict.fromkeys(contact_ids):
        if contact_id not in known:
            session.add(OpportunityContact(opportunity_id=opp.id, contact_id=contact_id))


IMPORTERS = (
    ("users", import_users),
    ("accounts", import_accounts),
    ("contacts", import_contacts),
    ("opportunities", import_opportunities),
)


def import_csv(session: Session, files: dict[str, Path]) -> ImportReport:
    """Import the given kinds in dependency order (users, accounts, contacts, opportunities)."""
    report = ImportReport()
    for kind, importer in IMPORTERS:
        if kind in files:
            importer(session, files[kind], report)
    return report
