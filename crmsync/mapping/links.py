"""Which automatic links an item gets: the one precedence rule every linking path applies.

Automation proposes links (:func:`~crmsync.mapping.evidence.gather_links`); people track,
untrack and choose. :func:`plan_links` decides what becomes of the proposals on an item
that already holds links, so that the page writer (mail and meetings), re-threading
(settle), ``crmsync relink`` and support intake cannot disagree. In order of precedence:

1. **A person's link wins.** Automation never removes it, never gives it another reason or
   confidence, and never adds a second link to its target.
2. **A person's removal wins.** A target a person unlinked (``link_removals``) is never
   linked again by automation. (Untracking deletes the link itself; a removal only stops
   additions.)
3. **A person's choice of deal or case is exclusive.** Where a person linked the item to
   an opportunity (a case), automation adds no other opportunity (case): those kinds name
   *the* deal or *the* case a mail is about, unlike contacts and accounts, of which a mail
   has several. Support intake alone passes ``exclusive=()``: the case a support thread
   names is linked whatever a person chose, as intake always has.
4. **What the item holds stays unless it is replaceable.** ``replaceable`` says which of
   the item's automatic links this caller decides again: none (:func:`keep_held`, merging
   another copy of a mail), every one (:func:`every_automatic`, ``crmsync relink``), or
   those made for a reason mail linking gives (:func:`made_for`, settling a conversation,
   which must not undo another feature's link, such as support intake's case). A
   replaceable link that is no longer proposed is removed; one proposed with another
   reason or confidence is updated.
5. **A target is linked once.** A proposal for a target the item still holds adds nothing.

Pure: plain values in, a :class:`LinkPlan` out; the caller reads its rows into
:class:`HeldLink` values and applies the plan to them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from crmsync.mapping.records import ProposedLink

__all__ = [
    "EXCLUSIVE_KINDS",
    "HeldLink",
    "LinkPlan",
    "Replaceable",
    "Target",
    "every_automatic",
    "keep_held",
    "made_for",
    "plan_links",
]

#: kinds of which a person's choice excludes automatic others (rule 3)
EXCLUSIVE_KINDS: frozenset[str] = frozenset({"opportunity", "case"})


@dataclass(frozen=True, slots=True)
class Target:
    """One CRM record an item can be linked to: its kind and primary key.

    The one answer to "which record does this link point at", for links, removals and
    track intents alike (the CRM layer reads it from a row's typed columns).

    :param kind: one of :data:`~crmsync.mapping.records.LINK_KINDS`.
    :param id: the record's primary key.
    """

    kind: str
    id: int


@dataclass(frozen=True, slots=True)
class HeldLink:
    """A link an item holds now.

    :param target: the linked record.
    :param by_person: a person made it (``source="user"``).
    :param reason: its reason, as stored.
    :param confidence: its confidence, as stored.
    """

    target: Target
    by_person: bool
    reason: str = ""
    confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """What to do to an item's links, by position in the ``current`` links planned from.

    :param add: new automatic links, in the order proposed.
    :param remove: positions of the held links to delete.
    :param update: (position, proposal) of held links to give the proposal's reason and
        confidence.
    """

    add: tuple[ProposedLink, ...] = ()
    remove: tuple[int, ...] = ()
    update: tuple[tuple[int, ProposedLink], ...] = ()


#: which of an item's automatic links a caller decides again (a person's never are)
Replaceable = Callable[[HeldLink], bool]


def keep_held(link: HeldLink) -> bool:
    """Replace nothing: proposals only add (another copy of a mail, a meeting updated)."""
    return False


def every_automatic(link: HeldLink) -> bool:
    """Replace every automatic link: the item is decided again from scratch (relink)."""
    return True


def made_for(reasons: Collection[tuple[Target, str]]) -> Replaceable:
    """Replace the automatic links held for one of ``reasons`` (target, reason) only.

    Settling a conversation decides again what mail linking made, and leaves alone the
    links other features made for reasons of their own.
    """
    return lambda link: (link.target, link.reason) in reasons


def plan_links(
    current: Sequence[HeldLink],
    proposed: Iterable[ProposedLink],
    removed: Collection[Target] = frozenset(),
    *,
    replaceable: Replaceable = keep_held,
    exclusive: Collection[str] = EXCLUSIVE_KINDS,
) -> LinkPlan:
    """Return what to add, remove and update so that ``current`` follows ``proposed``.

    :param current: the links the item holds, in their stored order.
    :param proposed: what automation would link now, strongest evidence first; a target
        proposed twice keeps its first proposal.
    :param removed: the targets a person unlinked from this item.
    :param replaceable: which automatic links of ``current`` may be removed or updated.
    :param exclusive: kinds a person's link makes exclusive (rule 3).
    :returns: the actions; empty when ``current`` already follows ``proposed``.
    """
    desired: dict[Target, ProposedLink] = {}
    for proposal in proposed:
        desired.setdefault(Target(proposal.kind, proposal.target_id), proposal)
    remove: list[int] = []
    update: list[tuple[int, ProposedLink]] = []
    for position, link in enumerate(current):
        if link.by_person or not replaceable(link):
            continue  # a person's link, or one this caller does not decide: left as it is
        proposal = desired.get(link.target)
        if proposal is None:
            remove.append(position)  # automation no longer proposes it
        elif (link.reason, link.confidence) != (proposal.reason, proposal.confidence):
            update.append((position, proposal))  # same target, newer evidence
    # A link removed here is one not proposed, so it never stands in a proposal's way.
    held = {link.target for link in current}
    chosen = {link.target.kind for link in current if link.by_person} & set(exclusive)
    add: list[ProposedLink] = []
    for target, proposal in desired.items():
        if target in held:
            continue  # linked already, by a person or by automation: once is enough
        if target in removed:
            continue  # a person took it off: their removal wins
        if target.kind in chosen:
            continue  # a person chose the deal or case: automation adds no other
        add.append(proposal)
    return LinkPlan(tuple(add), tuple(remove), tuple(update))
