"""Rules that propose links for a mail's participants, run in order.

Each rule is a tiny object with a ``name``, a ``description`` and ``match()``, as Mailman's
rules are: adding a rule (opportunities, cases) means adding a class and putting it in the
chain, not editing a long function. Rules only propose; :func:`match_participants` merges
their proposals so that each target is linked once, with its strongest reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from crmsync.mapping.addresses import domain_of
from crmsync.mapping.directory import ContactEntry, Directory
from crmsync.mapping.records import Participant, ProposedLink

__all__ = [
    "DEFAULT_MATCHERS",
    "ContactAccountMatcher",
    "ContactAddressMatcher",
    "DomainAccountMatcher",
    "Matcher",
    "match_participants",
]


class Matcher(Protocol):
    """A rule that proposes links for the participants of one mail."""

    #: short stable identifier, for logs and admin display
    name: str
    #: one sentence saying what the rule links and why that is safe
    description: str

    def match(
        self, participants: Sequence[Participant], directory: Directory
    ) -> list[ProposedLink]:
        """Return the links this rule proposes; may repeat targets (they are merged later).

        Rules consider external participants only: our own colleagues say nothing about
        which customer a mail concerns.
        """
        ...


class ContactAddressMatcher:
    """See :class:`Matcher`."""

    name = "contact-address"
    description = "An external participant's address is the address of a CRM contact."

    def match(
        self, participants: Sequence[Participant], directory: Directory
    ) -> list[ProposedLink]:
        """See :meth:`Matcher.match`."""
        links: list[ProposedLink] = []
        for participant in _external(participants):
            contact = directory.contact_for(participant.address)
            if contact is not None:
                who = "sender" if participant.role == "from" else "recipient"
                reason = f"{who} is contact {_contact_label(contact, participant)}"
                links.append(ProposedLink("contact", contact.id, reason, 1.0))
        return links


class ContactAccountMatcher:
    """See :class:`Matcher`."""

    name = "contact-account"
    description = "An external participant is a contact of an account: link that account."

    def match(
        self, participants: Sequence[Participant], directory: Directory
    ) -> list[ProposedLink]:
        """See :meth:`Matcher.match`."""
        links: list[ProposedLink] = []
        for participant in _external(participants):
            contact = directory.contact_for(participant.address)
            if contact is None or contact.account_id is None:
                continue
            account = directory.accounts_by_id.get(contact.account_id)
            if account is not None:
                label = _contact_label(contact, participant)
                reason = f"contact {label} belongs to {account.name}"
                links.append(ProposedLink("account", account.id, reason, 0.95))
        return links


class DomainAccountMatcher:
    """See :class:`Matcher`."""

    name = "domain-account"
    description = (
        "An external participant's domain (or a domain above it) belongs to an account; "
        "free-mail domains never count."
    )

    def match(
        self, participants: Sequence[Participant], directory: Directory
    ) -> list[ProposedLink]:
        """See :meth:`Matcher.match`."""
        links: list[ProposedLink] = []
        for participant in _external(participants):
            domain = domain_of(participant.address)
            account = directory.account_for_domain(domain)
            if account is None:
                continue
            contact = directory.contact_for(participant.address)
            if contact is not None and contact.account_id == account.id:
                continue  # ContactAccountMatcher already says it better
            reason = f"domain {domain} belongs to {account.name}"
            links.append(ProposedLink("account", account.id, reason, 0.8))
        return links


#: The chain :func:`match_participants` runs by default, strongest evidence first.
DEFAULT_MATCHERS: tuple[Matcher, ...] = (
    ContactAddressMatcher(),
    ContactAccountMatcher(),
    DomainAccountMatcher(),
)


def match_participants(
    participants: Sequence[Participant],
    directory: Directory,
    matchers: Sequence[Matcher] = DEFAULT_MATCHERS,
) -> list[ProposedLink]:
    """Run ``matchers`` in order and merge their proposals.

    :returns: one link per (kind, target), in the order targets were first proposed, each
        carrying the highest-confidence reason (the first one on a tie).
    """
    best: dict[tuple[str, int], ProposedLink] = {}
    for matcher in matchers:
        for link in matcher.match(participants, directory):
            key = (link.kind, link.target_id)
            current = best.get(key)
            if current is None or link.confidence > current.confidence:
                best[key] = link
    return list(best.values())


def _external(participants: Sequence[Participant]) -> list[Participant]:
    return [participant for participant in participants if not participant.is_internal]


def _contact_label(contact: ContactEntry, participant: Participant) -> str:
    return contact.name or participant.name or participant.address
