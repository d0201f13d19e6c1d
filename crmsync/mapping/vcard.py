"""vCard in and out (2.1, 3.0, 4.0 through vobject), and how a card meets a CRM contact.

A card from a file or a mailbox address book never overwrites what the CRM holds: empty
fields are filled, different values are listed as conflicts for a person to settle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import vobject

from crmsync.connectors.base import ContactCard
from crmsync.mapping.addresses import normalize_address

__all__ = ["CardPlan", "card_vcard", "parse_vcards", "plan_card"]

#: CRM contact fields a card can fill, and the card attribute each comes from
FIELDS = {"first_name": "given_name", "last_name": "surname", "phone": "phones",
          "title": "job_title"}


class VCardError(ValueError):
    """A file that is not vCard at all."""


def _values(card: vobject.base.Component, name: str) -> list[str]:
    return [str(line.value).strip() for line in card.contents.get(name, []) if line.value]


def _flat(value: object) -> str:
    if isinstance(value, list | tuple):
        return " ".join(_flat(item) for item in value if item)
    return str(value)


def _card(card: vobject.base.Component, index: int, folder: str) -> ContactCard:
    emails = tuple(dict.fromkeys(
        a for a in (normalize_address(e) for e in _values(card, "email")) if a))
    given = surname = ""
    if "n" in card.contents and hasattr(card.n.value, "given"):
        given, surname = str(card.n.value.given or ""), str(card.n.value.family or "")
    org = card.contents.get("org", [])
    company = _flat(org[0].value).strip() if org else ""
    uid = (_values(card, "uid") or [""])[0]
    display = (_values(card, "fn") or [f"{given} {surname}".strip()])[0]
    return ContactCard(
        item_id=uid or f"#{index}", folder=folder, display_name=display, emails=emails,
        given_name=given, surname=surname, company=company,
        job_title=(_values(card, "title") or [""])[0], phones=tuple(_values(card, "tel")),
    )


def parse_vcards(data: bytes, folder: str = "") -> tuple[list[ContactCard], list[str]]:
    """Return the cards of a .vcf stream and one problem line per unreadable card.

    :raises VCardError: nothing in ``data`` is a vCard.
    """
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    if "BEGIN:VCARD" not in text.upper():
        raise VCardError("not a vCard file")
    cards: list[ContactCard] = []
    problems: list[str] = []
    try:
        for index, component in enumerate(vobject.readComponents(text, ignoreUnreadable=True)):
            if component.name.upper() != "VCARD":
                continue
            try:
                cards.append(_card(component, index, folder))
            except (AttributeError, ValueError, TypeError) as exc:
                problems.append(f"card {index}: {exc}")
    except Exception as exc:  # vobject raises its ParseError and plain errors mid-stream
        problems.append(f"stopped reading: {exc}")
    return cards, problems


def card_key(card: ContactCard) -> str:
    """A stable external id for a contact created from ``card``."""
    basis = card.item_id if not card.item_id.startswith("#") else ";".join(card.emails)
    return "vcard:" + hashlib.sha256(basis.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class CardPlan:
    """What importing one card does to the CRM contact it matched (or to none)."""

    fill: Mapping[str, str]
    conflicts: tuple[tuple[str, str, str], ...]


def plan_card(card: ContactCard, existing: Mapping[str, str]) -> CardPlan:
    """Compare ``card`` with a CRM contact's fields: fill blanks, list differences.

    :param existing: the contact's ``first_name``, ``last_name``, ``phone``, ``title``.
    :returns: fields to fill and (field, CRM value, card value) conflicts.
    """
    fill: dict[str, str] = {}
    conflicts = []
    for field_name, attr in FIELDS.items():
        value = getattr(card, attr)
        value = (value[0] if value else "") if isinstance(value, tuple) else value
        current = existing.get(field_name, "")
        if not value or value == current:
            continue
        if not current:
            fill[field_name] = value
        else:
            conflicts.append((field_name, current, value))
    return CardPlan(fill, tuple(conflicts))


def card_vcard(fields: Mapping[str, str], emails: list[str], uid: str) -> str:
    """Return one CRM contact as a vCard 3.0."""
    card = vobject.vCard()
    first, last = fields.get("first_name", ""), fields.get("last_name", "")
    card.add("n").value = vobject.vcard.Name(family=last, given=first)
    card.add("fn").value = f"{first} {last}".strip() or (emails[0] if emails else uid)
    for address in emails:
        line = card.add("email")
        line.value = address
        line.type_param = "INTERNET"
    if fields.get("phone"):
        card.add("tel").value = fields["phone"]
    if fields.get("title"):
        card.add("title").value = fields["title"]
    if fields.get("org"):
        card.add("org").value = [fields["org"]]
    card.add("uid").value = uid
    return card.serialize()
