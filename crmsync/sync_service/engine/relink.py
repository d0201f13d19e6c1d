"""Re-evaluate the automatic links of recent activities after the CRM changed.

A contact was added, an opportunity closed, a domain moved to another account: the links
crmsync made last week may now be missing or wrong. :func:`relink_since` decides each
recent activity again with the current directory, exactly as a sync would, and changes only
automatic links: a person's links, and the links a person removed, are left as they are.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, selectinload

from crmsync.crm.links import LinkRemoval, LinkSuggestion
from crmsync.crm.models import LINK_TARGET_COLUMNS, Activity, ActivityLink
from crmsync.mapping.directory import Directory
from crmsync.mapping.evidence import ThreadLink, gather_links
from crmsync.mapping.records import Participant, ProposedLink
from crmsync.sync_service.engine.settle import settle_activities, target_of

BATCH = 200


def relink_since(
    session: Session, directory: Directory, since: datetime, now: datetime
) -> Counter[str]:
    """Relink every activity that occurred at or after ``since``, oldest first.

    :returns: counts of links added, removed and updated, and activities seen.
    """
    counts: Counter[str] = Counter()
    threads: dict[str, list[ThreadLink]] = defaultdict(list)
    seen: list[int] = []
    last = 0
    while True:
        batch = session.scalars(
            select(Activity).where(Activity.occurred_at >= since, Activity.id > last)
            .order_by(Activity.id).limit(BATCH)
            .options(selectinload(Activity.participants), selectinload(Activity.links))
        ).all()
        if not batch:
            # Rows are stored newest first by a first sync: decide every conversation
            # again in its own order, as a sync in date order would have.
            session.flush()
            counts["rethreaded"] = settle_activities(session, seen, directory, now)
            return counts
        seen += [a.id for a in batch if a.kind == "email"]
        _load_older_threads(session, batch, since, threads)
        removals = _removals(session, [a.id for a in batch])
        for activity in batch:
            thread = list(threads.get(activity.conversation, ())) if activity.conversation else []
            desired = _decide(activity, directory, thread)
            counts += _apply(session, activity, desired, removals.get(activity.id, set()), now)
            if activity.conversation:
                threads[activity.conversation] += [
                    ThreadLink(*target_of(link), link.source == "user") for link in activity.links
                ]
            counts["activities"] += 1
        last = batch[-1].id


def _load_older_threads(
    session: Session, batch: list[Activity], since: datetime,
    threads: dict[str, list[ThreadLink]],
) -> None:
    """Add the links of conversations' activities older than the window (not relinked)."""
    wanted = {a.conversation for a in batch if a.conversation and a.conversation not in threads}
    if not wanted:
        return
    rows = session.execute(
        select(Activity.conversation, ActivityLink)
        .join(ActivityLink, ActivityLink.activity_id == Activity.id)
        .where(Activity.conversation.in_(wanted), Activity.occurred_at < since)
    )
    for conversation, link in rows:
        threads[conversation].append(ThreadLink(*target_of(link), link.source == "user"))
    for conversation in wanted:
        threads.setdefault(conversation, [])


def _removals(session: Session, activity_ids: list[int]) -> dict[int, set[tuple[str, int]]]:
    removed: dict[int, set[tuple[str, int]]] = defaultdict(set)
    for row in session.scalars(
        select(LinkRemoval).where(LinkRemoval.activity_id.in_(activity_ids))
    ):
        removed[row.activity_id].add(target_of(row))
    return removed


def _decide(activity: Activity, directory: Directory, thread: list[ThreadLink]):
    participants = []
    for row in activity.participants:
        contact = directory.contact_for(row.address)
        row.contact_id = None if contact is None else contact.id
        participants.append(Participant(
            address=row.address, name=row.name, role=row.role, contact_id=row.contact_id,
            is_internal=directory.is_internal(row.address),
        ))
    if all(p.is_internal for p in participants):
        return gather_links((), activity.subject, directory, ())
    return gather_links(participants, activity.subject, directory, thread)


def _apply(
    session: Session, activity: Activity, evidence, removed: set[tuple[str, int]],
    now: datetime,
) -> Counter[str]:
    counts: Counter[str] = Counter()
    desired: dict[tuple[str, int], ProposedLink] = {
        (link.kind, link.target_id): link for link in evidence.links
    }
    by_person = {target_of(link) for link in activity.links if link.source == "user"}
    person_kinds = {kind for kind, _ in by_person}
    for link in list(activity.links):
        if link.source == "user":
            continue  # a person's link is never undone by automation
        proposal = desired.get(target_of(link))
        if proposal is None:
            activity.links.remove(link)
            counts["removed"] += 1
        elif (link.reason, link.confidence) != (proposal.reason, proposal.confidence):
            link.reason, link.confidence = proposal.reason, proposal.confidence
            counts["updated"] += 1
    have = {target_of(link) for link in activity.links}
    for target, proposal in desired.items():
        if target in have or target in removed:
            continue  # already there, or a person took it off
        if target[0] in ("opportunity", "case") and target[0] in person_kinds:
            continue  # a person chose the deal or case
        link = ActivityLink(reason=proposal.reason, confidence=proposal.confidence,
                            source="auto", created_at=now)
        setattr(link, LINK_TARGET_COLUMNS[target[0]], target[1])
        activity.links.append(link)
        counts["added"] += 1
    _replace_suggestions(session, activity.id, evidence.suggestions, now)
    return counts


def _replace_suggestions(session: Session, activity_id: int, suggestions, now: datetime) -> None:
    session.execute(delete(LinkSuggestion).where(LinkSuggestion.activity_id == activity_id))
    if suggestions:
        session.execute(insert(LinkSuggestion), [
            {"activity_id": activity_id, "opportunity_id": s.target_id, "rank": s.rank,
             "reason": s.reason, "score": s.score, "created_at": now}
            for s in suggestions
        ])
