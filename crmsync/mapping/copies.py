"""Several copies of one mail: their participants are one set, and links are decided on it.

The copies of one message differ: the sender's Sent copy carries ``Bcc``, the recipients'
copies do not; a mailing list's copy may name other recipients. The activity is the
message, so its participants are the union of its copies, and its links are those the
union gives, decided once. Deciding each copy alone and adding the results would give a
second, contradictory opportunity (one copy's participants have a role on one deal, the
union names two deals and decides none): the plan made here replaces the links an earlier
copy's participants gave with those of the union, and never touches a person's link nor a
link another feature made (:func:`~crmsync.mapping.links.made_for`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from crmsync.mapping.directory import Directory
from crmsync.mapping.evidence import LinkEvidence, ThreadLink, gather_links
from crmsync.mapping.links import HeldLink, LinkPlan, Target, made_for, plan_links
from crmsync.mapping.records import Participant, ProposedLink

__all__ = ["CopyContext", "CopyMerge", "merge_copy", "union_participants"]


def union_participants(*copies: Iterable[Participant]) -> tuple[Participant, ...]:
    """Return every (address, role) of ``copies`` once, in the order first seen."""
    merged: dict[tuple[str, str], Participant] = {}
    for copy in copies:
        for participant in copy:
            merged.setdefault((participant.address, participant.role), participant)
    return tuple(merged.values())


@dataclass(frozen=True, slots=True)
class CopyMerge:
    """What one more copy of a mail does to its activity.

    :param participants: the union of the held participants and the copy's.
    :param evidence: the links and suggestions the union gives.
    :param plan: what to do to the held links so that they follow ``evidence``.
    """

    participants: tuple[Participant, ...]
    evidence: LinkEvidence
    plan: LinkPlan


def merge_copy(
    held: Sequence[HeldLink],
    held_participants: Sequence[Participant],
    copy: Sequence[Participant],
    copy_links: Sequence[ProposedLink],
    context: CopyContext,
) -> CopyMerge:
    """Return the union of a mail's copies and the plan that links it once.

    :param held: the activity's links now.
    :param held_participants: the participants of the copies stored so far.
    :param copy: the new copy's participants.
    :param copy_links: the links the new copy alone was given (their reasons are ours).
    :param context: the subject, directory, conversation and removals the copies share.
    """
    union = union_participants(held_participants, copy)
    before = _evidence(held_participants, context)
    after = _evidence(union, context)
    # Links made for a reason the copies' own evidence gives may be replaced; a person's,
    # or another feature's (a support case), never.
    ours = {
        (Target(link.kind, link.target_id), link.reason)
        for link in (*before.links, *copy_links, *after.links)
    }
    plan = plan_links(held, after.links, context.removed, replaceable=made_for(ours))
    return CopyMerge(union, after, plan)


@dataclass(frozen=True, slots=True)
class CopyContext:
    """What every copy of one mail shares, for :func:`merge_copy`.

    :param subject: the decoded subject (tokens).
    :param directory: the CRM snapshot.
    :param thread: the links of the mail's conversation.
    :param removed: the targets a person unlinked from the activity.
    """

    subject: str
    directory: Directory
    thread: Sequence[ThreadLink] = ()
    removed: frozenset[Target] = frozenset()


def _evidence(participants: Sequence[Participant], context: CopyContext) -> LinkEvidence:
    if all(participant.is_internal for participant in participants):
        return LinkEvidence((), ())  # mail among colleagues links nothing
    return gather_links(participants, context.subject, context.directory, context.thread)
