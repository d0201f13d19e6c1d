"""Decide a conversation's automatic links again, in conversation order.

A first sync lists newest first (IMAP windows of 5,000, an mbox exported in reverse), so a
reply is often stored before the mail it answers: when it was decided, the parent's
subject token, deal or case was not known. :func:`settle_groups` decides each mail of a
conversation again in the order of :mod:`crmsync.mapping.conversations`, so the links are
those a sync in date order would have made, whatever order the mails were stored in. The
page hook (:mod:`crmsync.sync_service.engine.rethread`) runs it for conversations a page
completes, ``crmsync relink`` for the conversations it relinks.

What it never does: touch a person's link, re-add a link a person removed
(``link_removals``), add a deal or case when a person chose one, or remove a link another
feature made (support intake's case link): it removes or rewrites only automatic links
whose reason is one the mail linking itself gives (:func:`crmsync.mapping.links.plan_links`
with :func:`~crmsync.mapping.links.made_for`).

Query budget: one query per round of :func:`find_conversation_keys` (one round unless a
conversation is a chain of In-Reply-To without References), one for the members' dates,
then for the conversations to settle one SELECT of their activities (participants and
links load with it), one of removals, one DELETE and one INSERT of suggestions. Never one
per mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, selectinload

from crmsync.crm.conversations import chunks, find_conversation_keys, members_of
from crmsync.crm.links import ActivityThreadKey, LinkSuggestion
from crmsync.crm.models import Activity
from crmsync.crm.tracking import removed_targets
from crmsync.mapping.conversations import (
    ConversationMember,
    best_thread_links,
    conversation_groups,
    conversation_order,
    predecessors,
)
from crmsync.mapping.directory import Directory
from crmsync.mapping.evidence import (
    INHERITED_KINDS,
    LinkEvidence,
    ThreadLink,
    gather_links,
    thread_reason,
)
from crmsync.mapping.links import HeldLink, Target, made_for, plan_links
from crmsync.mapping.records import Participant, ProposedLink
from crmsync.sync_service.engine.link_rows import (
    apply_link_plan,
    held_links,
    proposal_target,
    stored_participants,
    thread_link,
)


@dataclass(frozen=True)
class SettleContext:
    """What settling needs besides the conversations."""

    directory: Directory
    #: by activity id, the targets a person unlinked
    removed: dict[int, set[Target]]
    now: datetime
    #: the links the store decided for the page's own mails (their reasons are ours)
    decided: dict[int, tuple[ProposedLink, ...]]


def settle_activities(session: Session, activity_ids: Sequence[int], directory: Directory,
                       now: datetime) -> int:
    """Settle every conversation one of ``activity_ids`` belongs to (``crmsync relink``).

    :returns: how many activities were decided again.
    """
    search: set[str] = set()
    for chunk in chunks(list(activity_ids)):
        search.update(session.scalars(
            select(ActivityThreadKey.key).where(ActivityThreadKey.activity_id.in_(chunk))
        ))
    members = members_of(session, find_conversation_keys(session, search))
    groups = [group for group in conversation_groups(members) if len(group) > 1]
    return settle_groups(session, groups, directory, now)


def settle_groups(session: Session, groups: Sequence[Sequence[ConversationMember]],
                  directory: Directory, now: datetime,
                  decided: dict[int, tuple[ProposedLink, ...]] | None = None) -> int:
    """Settle each of ``groups`` and replace its mails' suggestions.

    :param decided: the links the store just decided for a page's mails, by activity id.
    :returns: how many activities were decided again.
    """
    ids = [m.activity_id for group in groups for m in group]
    if not ids:
        return 0
    activities: dict[int, Activity] = {}
    for chunk in chunks(ids):
        activities.update((a.id, a) for a in session.scalars(
            select(Activity).where(Activity.id.in_(chunk))
            .options(selectinload(Activity.participants), selectinload(Activity.links))
        ))
    context = SettleContext(directory, removed_targets(session, ids), now, decided or {})
    suggestions: list[dict[str, Any]] = []
    for group in groups:
        suggestions += settle(group, activities, context)
    for chunk in chunks(ids):
        session.execute(delete(LinkSuggestion).where(LinkSuggestion.activity_id.in_(chunk)))
    if suggestions:
        session.execute(insert(LinkSuggestion), suggestions)
    return len(ids)


def settle(group: Sequence[ConversationMember], activities: dict[int, Activity],
           context: SettleContext) -> list[dict[str, Any]]:
    """Decide each mail of one conversation again, in order; return its suggestion rows."""
    before = {i: held_links(activities[i].links) for i in _ids(group)}
    inherits = predecessors(group)
    held: dict[int, list[HeldLink]] = {}
    rows: list[dict[str, Any]] = []
    for activity_id in conversation_order(group):
        activity = activities[activity_id]
        thread = best_thread_links(
            thread_link(link, via_headers)
            for parent, via_headers in inherits[activity_id]
            for link in held[parent]
        )
        participants = stored_participants(activity, context.directory)
        evidence = _evidence(participants, activity.subject, context.directory, thread)
        ours = _our_reasons(activity, participants, evidence, before, context)
        _apply(activity, evidence, ours, context)
        held[activity_id] = held_links(activity.links)
        rows += [
            {"activity_id": activity_id, "opportunity_id": s.target_id, "rank": s.rank,
             "reason": s.reason, "score": s.score, "created_at": context.now}
            for s in evidence.suggestions
        ]
    return rows


def _ids(group: Sequence[ConversationMember]) -> set[int]:
    return {m.activity_id for m in group}


def _evidence(participants: list[Participant], subject: str, directory: Directory,
              thread: Sequence[ThreadLink]) -> LinkEvidence:
    if all(p.is_internal for p in participants):
        return LinkEvidence((), ())  # mail among colleagues: nothing to link
    return gather_links(participants, subject, directory, thread)


def _our_reasons(
    activity: Activity, participants: list[Participant], evidence: LinkEvidence,
    before: dict[int, list[HeldLink]], context: SettleContext,
) -> set[tuple[Target, str]]:
    """Return the (target, reason) of links mail linking may have made here.

    Everything this mail's evidence gives with no conversation, with the conversation as
    it was stored, and with it now, and every inherited reason of the conversation's
    targets; a link whose reason is not among them (a support case link) is left alone.
    """
    directory = context.directory
    stored_thread = [
        thread_link(link)
        for other, links in before.items() if other != activity.id
        for link in links
    ]
    proposals = [*evidence.links, *context.decided.get(activity.id, ())]
    for thread in ((), stored_thread):
        proposals += _evidence(participants, activity.subject, directory, thread).links
    ours = {(proposal_target(p), p.reason) for p in proposals}
    for link in stored_thread:
        if link.kind in INHERITED_KINDS:
            for by_person in (True, False):
                reason = thread_reason(link.kind, link.target_id, by_person, directory)
                ours.add((Target(link.kind, link.target_id), reason))
    return ours


def _apply(activity: Activity, evidence: LinkEvidence, ours: set[tuple[Target, str]],
           context: SettleContext) -> None:
    """Make the activity's automatic links those of ``evidence``, as the store would.

    Only links made for one of ``ours`` are replaced: a person's link, or another
    feature's (a support case link), is never undone here.
    """
    plan = plan_links(held_links(activity.links), evidence.links,
                      context.removed.get(activity.id, frozenset()), replaceable=made_for(ours))
    apply_link_plan(activity, plan, context.now)
