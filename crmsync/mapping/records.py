"""The value objects decisions are made of: who took part in a mail, what to link it to.

They live apart from :mod:`crmsync.mapping.mail` so that matchers and the mail decision can
both use them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LINK_KINDS", "ROLES", "Participant", "ProposedLink"]

#: Header roles, in the order participants are listed.
ROLES: tuple[str, ...] = ("from", "to", "cc", "bcc")
LINK_KINDS: tuple[str, ...] = ("contact", "account", "opportunity", "case")


@dataclass(frozen=True, slots=True)
class Participant:
    """One address in one role of a mail.

    :param address: normalized address.
    :param name: decoded display name, ``""`` when the header gave none.
    :param role: one of :data:`ROLES`.
    :param contact_id: the CRM contact with this address, if any.
    :param is_internal: whether the address belongs to one of our own domains.
    """

    address: str
    name: str
    role: str
    contact_id: int | None
    is_internal: bool


@dataclass(frozen=True, slots=True)
class ProposedLink:
    """A link automation proposes, with the reason shown to people.

    :param kind: one of :data:`LINK_KINDS`.
    :param target_id: id of the contact, account, opportunity or case.
    :param reason: one sentence a rep can check ("sender is contact Ana Ruiz").
    :param confidence: 0..1; the store applies links above its threshold and suggests the
        rest.
    """

    kind: str
    target_id: int
    reason: str
    confidence: float
