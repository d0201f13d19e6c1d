"""Open a case from a customer's mail: number, text, contact, account, routing, SLA, ack."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.models import Case, Contact, ContactEmail
from crmsync.crm.support import CaseRule, SupportCase, allocate_case_number
from crmsync.mapping.addresses import domain_of
from crmsync.mapping.cases import RuleEntry, classify, first_response_due, split_list
from crmsync.mapping.loops import SenderKind, arrived_before_connection
from crmsync.mapping.records import Participant
from crmsync.mapping.reply_text import new_text
from crmsync.sync_service.engine.page import StoredMail
from crmsync.sync_service.support.acks import queue_acknowledgement
from crmsync.sync_service.support.settings import Intake


def load_rules(session: Session) -> list[RuleEntry]:
    """Return the keyword rules in the order they are tried."""
    return [
        RuleEntry(
            id=rule.id, name=rule.name, keywords=split_list(rule.keywords),
            category=rule.category, priority=rule.priority,
            templates=split_list(rule.templates), sla_hours=rule.sla_hours,
        )
        for rule in session.scalars(select(CaseRule).order_by(CaseRule.position, CaseRule.id))
    ]


def open_case(intake: Intake, stored: StoredMail, kind: SenderKind,
              follow_up_of: int | None) -> Case:
    """Create the case for ``stored`` (status New) and queue its acknowledgement."""
    session, decision = intake.session, stored.decision
    sender = next(p for p in decision.participants if p.role == "from")
    entry = classify(decision.subject, stored.mail.body_text, load_rules(session))
    rule = session.get(CaseRule, entry.id) if entry else None
    contact_id, account_id = _customer(intake, sender)
    hours = rule.sla_hours if rule and rule.sla_hours is not None else intake.settings.sla_hours
    case = Case(
        number=allocate_case_number(session), subject=decision.subject,
        description=new_text(stored.mail.body_text), status="New",
        priority=(rule.priority if rule else "") or "Normal",
        category=rule.category if rule else "",
        contact_id=contact_id, account_id=account_id,
        owner_id=(rule.owner_id if rule else None) or intake.mailbox.owner_id,
        created_at=decision.occurred_at,
        first_response_due=first_response_due(
            decision.occurred_at, hours, intake.settings.calendar
        ),
    )
    session.add(case)
    session.flush()
    session.add(SupportCase(
        case_id=case.id, mailbox_id=intake.mailbox.id, team_id=rule.team_id if rule else None,
        rule_id=rule.id if rule else None, follow_up_of_id=follow_up_of,
        requester=sender.address[:320], reply_from=_our_address(stored)[:320],
        reopened_count=0,
        from_history=arrived_before_connection(arrival(stored), intake.mailbox.created_at),
    ))
    session.flush()
    queue_acknowledgement(
        session, case, intake.mailbox, (kind, sender.address),
        (intake.settings, decision.message_id or "", arrival(stored), intake.now),
    )
    return case


def arrival(stored: StoredMail) -> datetime:
    """When the mail reached the mailbox (INTERNALDATE, receivedDateTime,
    DateTimeReceived), else its Date: what "old mail" and per-sender limits go by."""
    return stored.mail.received_at or stored.decision.occurred_at


def _our_address(stored: StoredMail) -> str:
    """The address of ours the customer wrote to: acknowledgements come from it."""
    for participant in stored.decision.participants:
        if participant.role in ("to", "cc") and participant.is_internal:
            return participant.address
    return ""


def _customer(intake: Intake, sender: Participant) -> tuple[int | None, int | None]:
    """Return (contact id, account id) of the sender: matched, else created when allowed."""
    directory = intake.writer.directory
    contact_id = sender.contact_id
    if contact_id is None:
        contact_id = intake.session.scalar(
            select(ContactEmail.contact_id).where(ContactEmail.address == sender.address)
        )
    account = directory.account_for_domain(domain_of(sender.address) or "")
    account_id = account.id if account else None
    if contact_id is not None:
        contact = intake.session.get(Contact, contact_id)
        return contact_id, (contact.account_id if contact else None) or account_id
    if not intake.settings.create_contacts:
        return None, account_id
    return _create_contact(intake.session, sender, account_id).id, account_id


def _create_contact(session: Session, sender: Participant, account_id: int | None) -> Contact:
    first, _, last = (sender.name or "").strip().partition(" ")
    contact = Contact(
        external_id=f"email:{sender.address}"[:200], first_name=first[:200],
        last_name=last[:200], account_id=account_id,
        emails=[ContactEmail(address=sender.address[:320])],
    )
    session.add(contact)
    session.flush()
    return contact
