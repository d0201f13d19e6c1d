"""Combine the kinds of evidence for a mail's links, in their order of strength.

1. A person's link (applied by the store: automation never adds to or undoes it).
2. A case or opportunity token in the subject.
3. Thread membership: a mail inherits the links of its conversation (In-Reply-To,
   References, the provider's conversation id). A shared subject is not a conversation,
   and a conversation never carries links across to a different customer.
4. The participants (contacts, their accounts, account domains, then opportunity roles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crmsync.mapping.directory import Directory
from crmsync.mapping.matchers import match_participants
from crmsync.mapping.opportunities import Suggestion, choose_opportunity, subject_tokens
from crmsync.mapping.records import Participant, ProposedLink

__all__ = ["LinkEvidence", "ThreadLink", "gather_links", "thread_reason"]

#: confidence of a link inherited from a conversation a person linked
PERSON_THREAD_CONFIDENCE = 0.95
#: confidence of a link inherited from a conversation automation linked
AUTO_THREAD_CONFIDENCE = 0.9
#: kinds a conversation passes on; contacts are people, and people change within a thread
INHERITED_KINDS = ("account", "opportunity", "case")


@dataclass(frozen=True, slots=True)
class ThreadLink:
    """A link held by an earlier mail of the same conversation (read by the store).

    :param kind: link kind.
    :param target_id: the linked record.
    :param by_person: a person made it (``source="user"``).
    :param via_headers: the conversation was found by In-Reply-To/References (``False``:
        only by the provider's conversation id, which Exchange partly derives from the
        subject, so it is weaker).
    """

    kind: str
    target_id: int
    by_person: bool
    via_headers: bool = True


@dataclass(frozen=True, slots=True)
class LinkEvidence:
    """The links to make and the suggestions to show for one item."""

    links: tuple[ProposedLink, ...]
    suggestions: tuple[Suggestion, ...]


def gather_links(
    participants: Sequence[Participant],
    subject: str,
    directory: Directory,
    thread: Sequence[ThreadLink] = (),
) -> LinkEvidence:
    """Return the links of an item from its subject, its conversation and its participants.

    :param participants: the item's participants (internal ones are ignored by matchers).
    :param subject: the decoded subject, for tokens.
    :param directory: the CRM snapshot.
    :param thread: links of earlier items of its conversation.
    """
    by_people = match_participants(participants, directory)
    tokens = subject_tokens(subject, directory)
    own_accounts = {link.target_id for link in by_people if link.kind == "account"}
    inherited = _inherit(thread, own_accounts, directory)
    links = _merge(tokens, inherited, by_people)
    suggestions: list[Suggestion] = []
    if not any(link.kind == "opportunity" for link in links):
        # Neither a token nor the conversation names the deal: ask the participants.
        accounts = {link.target_id for link in links if link.kind == "account"}
        contacts = {link.target_id for link in by_people if link.kind == "contact"}
        chosen, suggestions = choose_opportunity(accounts, contacts, directory)
        links = _merge(links, chosen)
    return LinkEvidence(tuple(links), tuple(suggestions))


def _inherit(
    thread: Sequence[ThreadLink], own_accounts: set[int], directory: Directory
) -> list[ProposedLink]:
    """Return the conversation's links this item may carry, with their reasons."""
    thread_accounts = _accounts_of(thread, directory)
    if own_accounts and thread_accounts and not own_accounts & thread_accounts:
        # The conversation belongs to another customer (a forward, a reused subject).
        return []
    if not own_accounts and thread and not any(t.via_headers for t in thread):
        # Only the provider's conversation id joins them, and nobody here is a customer
        # we know: a shared subject is not enough to link.
        return []
    links = []
    for item in thread:
        if item.kind not in INHERITED_KINDS:
            continue
        if item.kind == "account" and own_accounts:
            continue  # the participants say which account, better than the thread does
        reason = thread_reason(item.kind, item.target_id, item.by_person, directory)
        confidence = PERSON_THREAD_CONFIDENCE if item.by_person else AUTO_THREAD_CONFIDENCE
        links.append(ProposedLink(item.kind, item.target_id, reason, confidence))
    return links


def thread_reason(kind: str, target_id: int, by_person: bool, directory: Directory) -> str:
    """Return the reason of a link inherited from the conversation.

    Public so that re-threading can tell links it made from links other features made.
    """
    who = "a person" if by_person else "crmsync"
    return f"reply in a conversation {who} linked to {_label(kind, target_id, directory)}"


def _accounts_of(thread: Sequence[ThreadLink], directory: Directory) -> set[int]:
    accounts = {t.target_id for t in thread if t.kind == "account"}
    for item in thread:
        if item.kind == "opportunity":
            opportunity = directory.opportunity_by_id(item.target_id)
            if opportunity is not None and opportunity.account_id is not None:
                accounts.add(opportunity.account_id)
    return accounts


def _label(kind: str, target_id: int, directory: Directory) -> str:
    if kind == "account" and target_id in directory.accounts_by_id:
        return directory.accounts_by_id[target_id].name
    if kind == "opportunity":
        opportunity = directory.opportunity_by_id(target_id)
        if opportunity is not None:
            return f"opportunity {opportunity.name}"
    if kind == "case":
        for number, case_id in directory.cases_by_number.items():
            if case_id == target_id:
                return f"case {number}"
    return f"{kind} {target_id}"


def _merge(*groups: Sequence[ProposedLink]) -> list[ProposedLink]:
    """Merge link groups given strongest evidence first: the first reason for a target wins.

    A token beats the thread and the thread beats the participants for the same kind of
    target (one opportunity, one case), even when a weaker rule is more confident.
    """
    merged: dict[tuple[str, int], ProposedLink] = {}
    decided: set[str] = set()
    for group in groups:
        kinds_here: set[str] = set()
        for link in group:
            if link.kind in ("opportunity", "case") and link.kind in decided:
                continue
            merged.setdefault((link.kind, link.target_id), link)
            kinds_here.add(link.kind)
        decided |= kinds_here
    return list(merged.values())
