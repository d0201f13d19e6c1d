"""What the pane shows about people and records: cards, tracking state, suggestions.

Each function runs a fixed number of queries per participant, whatever the data
size, so the first paint stays one round trip of bounded work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crmsync.crm.models import (
    Account,
    Activity,
    ActivityLink,
    Case,
    Contact,
    Opportunity,
    OpportunityContact,
    User,
)
from crmsync.crm.queries import lookup_sender
from crmsync.crm.signals import account_signals
from crmsync.crm.tracking import find_activity, normalize_message_id
from crmsync.mapping.addresses import domain_of, normalize_address
from crmsync.sync_service.web.api.access import Viewer, filter_opportunities, visible_opportunities

CASE_NUMBER = re.compile(r"\bCASE-\d{6,}\b")
_NAME_SPLIT = re.compile(r"[._\-+]+")


@dataclass(frozen=True)
class Participant:
    address: str
    name: str
    role: str


def is_internal(address: str, internal_domains: frozenset[str]) -> bool:
    domain = domain_of(address)
    return any(domain == d or domain.endswith("." + d) for d in internal_domains)


def external_participants(
    people: list[tuple[str, str, str]], internal_domains: frozenset[str], viewer: Viewer
) -> list[Participant]:
    """Normalize and de-duplicate (address, name, role), dropping the organization's own."""
    seen: set[str] = set()
    result = []
    for raw, name, role in people:
        address = normalize_address(raw)
        if address is None or address in seen or address == viewer.email:
            continue
        seen.add(address)
        if not is_internal(address, internal_domains):
            result.append(Participant(address, name, role))
    return result


def guess_names(display_name: str, address: str) -> tuple[str, str]:
    """Split "Ana Ruiz" (or "ana.ruiz@...") into first and last name for a new contact."""
    name = display_name.strip().strip('"')
    if "," in name:  # "Ruiz, Ana"
        last, _, first = name.partition(",")
        return first.strip(), last.strip()
    parts = name.split() if name and "@" not in name else [
        p.capitalize() for p in _NAME_SPLIT.split(address.split("@")[0]) if p
    ]
    if not parts:
        return "", ""
    return " ".join(parts[:-1]) if len(parts) > 1 else parts[0], parts[-1] if len(parts) > 1 else ""


def card(session: Session, viewer: Viewer, person: Participant) -> dict[str, Any]:
    """The card of one participant: contact, account, deals, cases, history, or a prefill."""
    data = lookup_sender(session, person.address, seen_by=viewer.seen_by)
    data["opportunities"] = filter_opportunities(session, viewer, data["opportunities"])
    data["name"] = data["contact"]["name"] if data["contact"] else person.name
    data["role"] = person.role
    data["prefill"] = None
    data["signals"] = _signals(session, viewer, data["account"])
    if data["contact"] is None:
        first, last = guess_names(person.name, person.address)
        data["prefill"] = {"email": person.address, "first_name": first, "last_name": last,
                           "account": data["account"]}
    return data


def _signals(session: Session, viewer: Viewer, account: dict | None) -> dict | None:
    """The account's relationship signals now, counted over what ``viewer`` may see."""
    if account is None:
        return None
    account_id = session.scalar(select(Account.id).where(
        Account.external_id == account["external_id"]))
    if account_id is None:
        return None
    found = account_signals(session, [account_id], datetime.now(UTC), viewer.seen_by)
    return found[account_id].shape()


# -- tracking state ------------------------------------------------------------------------


def _record_ref(link: Any) -> dict[str, Any]:
    """(type, external_id, name) of the record a link-like row targets."""
    if link.contact is not None:
        return {"type": "contact", "external_id": link.contact.external_id,
                "name": link.contact.full_name}
    if link.account is not None:
        return {"type": "account", "external_id": link.account.external_id,
                "name": link.account.name}
    if link.opportunity is not None:
        return {"type": "opportunity", "external_id": link.opportunity.external_id,
                "name": link.opportunity.name}
    return {"type": "case", "external_id": link.case.number, "name": link.case.subject}


def _hidden_opportunities(session: Session, viewer: Viewer, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    visible = set(session.scalars(
        select(Opportunity.id).where(Opportunity.id.in_(ids), visible_opportunities(viewer))
    ))
    return set(ids) - visible


def tracking_state(session: Session, viewer: Viewer, internet_message_id: str | None) -> dict:
    """Where the mail is tracked to, with reasons; links the viewer may not see are left out."""
    message_id = normalize_message_id(internet_message_id)
    activity = find_activity(session, message_id, seen_by=viewer.seen_by)
    state: dict[str, Any] = {"internet_message_id": message_id, "stored": activity is not None,
                             "links": []}
    if activity is None:
        return state
    state["links"] = activity_links(session, viewer, activity)
    return state


def activity_links(session: Session, viewer: Viewer, activity: Activity) -> list[dict]:
    """The links of a stored mail or meeting the viewer may see, with reasons and who."""
    links = session.scalars(
        select(ActivityLink).where(ActivityLink.activity_id == activity.id)
        .order_by(ActivityLink.id).options(
            selectinload(ActivityLink.contact), selectinload(ActivityLink.account),
            selectinload(ActivityLink.opportunity), selectinload(ActivityLink.case),
        )
    ).all()
    hidden = _hidden_opportunities(session, viewer, [x.opportunity_id for x in links
                                                     if x.opportunity_id is not None])
    names = dict(session.execute(select(User.id, User.name).where(
        User.id.in_({x.created_by_id for x in links if x.created_by_id}))).all())
    return [
        {**_record_ref(x), "reason": x.reason, "source": x.source, "confidence": x.confidence,
         "created_by": names.get(x.created_by_id)}
        for x in links if x.opportunity_id not in hidden
    ]


# -- suggestions ---------------------------------------------------------------------------


def _add(found: dict, ref: dict[str, Any], reason: str, score: float) -> None:
    key = (ref["type"], ref["external_id"])
    if key not in found or found[key]["score"] < score:
        found[key] = {**ref, "reason": reason, "score": round(score, 2)}


def _case_in_subject(session: Session, subject: str, found: dict) -> None:
    numbers = CASE_NUMBER.findall(subject or "")[:5]
    for case in session.scalars(select(Case).where(Case.number.in_(numbers))):
        _add(found, {"type": "case", "external_id": case.number, "name": case.subject},
             f"the subject mentions {case.number}", 1.0)


def _deal_contacts(session: Session, contact_ids: list[str]) -> dict[str, set[str]]:
    """opportunity external id → the external ids of participant contacts on it."""
    if not contact_ids:
        return {}
    rows = session.execute(
        select(Opportunity.external_id, Contact.external_id)
        .join(OpportunityContact, OpportunityContact.opportunity_id == Opportunity.id)
        .join(Contact, Contact.id == OpportunityContact.contact_id)
        .where(Contact.external_id.in_(contact_ids))
    ).all()
    result: dict[str, set[str]] = {}
    for opportunity, contact in rows:
        result.setdefault(opportunity, set()).add(contact)
    return result


def _card_suggestions(found: dict, one: dict[str, Any], deals: dict[str, set[str]]) -> None:
    """Rank one card's records: the sender's count more than a cc'd person's."""
    weight = 1.0 if one["role"] == "from" else 0.85
    contact, account = one["contact"], one["account"]
    if contact:
        who = "sender" if one["role"] == "from" else "a recipient"
        _add(found, {"type": "contact", "external_id": contact["external_id"],
                     "name": contact["name"]}, f"{who} is contact {contact['name']}", 0.9 * weight)
    if account:
        _add(found, {"type": "account", **account},
             f"{domain_of(one['address'])} belongs to {account['name']}", 0.8 * weight)
    for deal in one["opportunities"]:
        ref = {"type": "opportunity", "external_id": deal["external_id"], "name": deal["name"]}
        if contact and contact["external_id"] in deals.get(deal["external_id"], ()):
            _add(found, ref, f"{contact['name']} is on this opportunity", 0.85 * weight)
        else:
            _add(found, ref, f"open opportunity of {account['name']}", 0.6 * weight)
    for case in one["cases"]:
        _add(found, {"type": "case", "external_id": case["number"], "name": case["subject"]},
             f"open case of {account['name']}", 0.55 * weight)


def suggestions(
    session: Session, subject: str, cards: list[dict[str, Any]], linked: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Records to track the mail to, best first, each with its reason; linked ones left out."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    _case_in_subject(session, subject, found)
    contact_ids = [c["contact"]["external_id"] for c in cards if c["contact"]]
    deals = _deal_contacts(session, contact_ids)
    for one in cards:
        _card_suggestions(found, one, deals)
    done = {(x["type"], x["external_id"]) for x in linked}
    ranked = [s for key, s in found.items() if key not in done]
    return sorted(ranked, key=lambda s: (-s["score"], s["type"], s["name"]))[:20]

