"""Which open opportunity a mail is about, or which ones it might be about.

Linking a mail to the wrong deal is worse than not linking it: a rep who finds a Globex
mail on the Acme renewal stops trusting every link. So a link is made only when one
opportunity is clearly meant; otherwise the candidates become ranked suggestions, each
with its reason, for the task pane.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from crmsync.mapping.directory import Directory, OpportunityEntry
from crmsync.mapping.records import ProposedLink

__all__ = [
    "Suggestion",
    "choose_opportunity",
    "subject_tokens",
]

#: confidence of a link named by a token in the subject (``[opp-17]``, ``CASE-000042``)
TOKEN_CONFIDENCE = 0.98
#: one open opportunity has a contact role among the participants
ROLE_CONFIDENCE = 0.9
#: the linked accounts have exactly one open opportunity and no role points elsewhere
ONLY_OPEN_CONFIDENCE = 0.85

_BRACKETED = re.compile(r"\[([^\[\]]{1,200})\]")
_CASE_NUMBER = re.compile(r"\bCASE-\d{1,12}\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A link automation did not make but a rep may want: shown ranked, with its reason.

    :param kind: ``"opportunity"`` (the only kind suggested today).
    :param target_id: the opportunity id.
    :param rank: 1 is the most likely.
    :param reason: one sentence a rep can check.
    :param score: 0..1, the ordering key.
    """

    kind: str
    target_id: int
    rank: int
    reason: str
    score: float


def subject_tokens(subject: str, directory: Directory) -> list[ProposedLink]:
    """Return the opportunities and cases the subject names explicitly.

    An opportunity is named by its external id in square brackets (``[opp-17]``, as
    crmsync's "insert tracking token" adds it); a case by its number (``CASE-000042``)
    anywhere. Tokens that name nothing in the CRM are ignored.
    """
    links: dict[tuple[str, int], ProposedLink] = {}
    for token in _BRACKETED.findall(subject):
        opportunity = directory.opportunity_by_external_id(token)
        if opportunity is not None:
            reason = f"subject names opportunity {opportunity.name} ({opportunity.external_id})"
            links.setdefault(
                ("opportunity", opportunity.id),
                ProposedLink("opportunity", opportunity.id, reason, TOKEN_CONFIDENCE),
            )
    for number in _CASE_NUMBER.findall(subject):
        case_id = directory.cases_by_number.get(number.upper())
        if case_id is not None:
            reason = f"subject names case {number.upper()}"
            links.setdefault(
                ("case", case_id), ProposedLink("case", case_id, reason, TOKEN_CONFIDENCE)
            )
    return list(links.values())


def open_opportunities(
    account_ids: Iterable[int], directory: Directory
) -> list[OpportunityEntry]:
    """Return the open opportunities of ``account_ids``, ordered by id (stable across runs)."""
    found = [o for account in set(account_ids) for o in directory.open_opportunities_of(account)]
    return sorted(found, key=lambda o: o.id)


def choose_opportunity(
    account_ids: Collection[int], contact_ids: Collection[int], directory: Directory
) -> tuple[list[ProposedLink], list[Suggestion]]:
    """Link the one open opportunity a mail clearly concerns, else suggest the candidates.

    Among the open opportunities of the linked accounts:

    - exactly one has a contact role among the participants: link it;
    - none has, and there is exactly one: link it;
    - otherwise (several with roles, or several without): link none, suggest them all,
      those with roles first.

    :param account_ids: the accounts the mail is linked to.
    :param contact_ids: the CRM contacts among its external participants.
    :returns: (links, suggestions); at most one of the two is non-empty.
    """
    candidates = open_opportunities(account_ids, directory)
    contacts = set(contact_ids)
    with_role = [o for o in candidates if o.contact_ids & contacts]
    if len(with_role) == 1:
        # A participant has a role on exactly one deal: that deal is meant.
        chosen = with_role[0]
        reason = f"a participant has a role on opportunity {chosen.name}"
        return [ProposedLink("opportunity", chosen.id, reason, ROLE_CONFIDENCE)], []
    if not with_role and len(candidates) == 1:
        # The customer has one deal in flight and nobody points elsewhere.
        chosen = candidates[0]
        account = directory.accounts_by_id.get(chosen.account_id or -1)
        owner = account.name if account is not None else "the account"
        reason = f"{chosen.name} is the only open opportunity of {owner}"
        return [ProposedLink("opportunity", chosen.id, reason, ONLY_OPEN_CONFIDENCE)], []
    # Ambiguous: never guess; rank those with roles first for the rep to pick.
    return [], _rank(candidates, with_role)


def _rank(
    candidates: list[OpportunityEntry], with_role: list[OpportunityEntry]
) -> list[Suggestion]:
    roles = {o.id for o in with_role}
    ordered = sorted(candidates, key=lambda o: (o.id not in roles, o.name, o.id))
    suggestions = []
    for rank, opportunity in enumerate(ordered, start=1):
        if opportunity.id in roles:
            reason = f"a participant has a role on {opportunity.name}, as on other open deals"
            score = 0.6
        else:
            reason = f"{opportunity.name} is one of several open opportunities of the account"
            score = 0.4
        suggestions.append(
            Suggestion("opportunity", opportunity.id, rank, reason, score / rank**0.1)
        )
    return suggestions
