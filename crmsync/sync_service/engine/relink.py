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

from crmsync.crm.links import LinkSuggestion
from crmsync.crm.models import Activity, ActivityLink
from crmsync.crm.tracking import removed_targets
from crmsync.mapping.directory import Directory
from crmsync.mapping.evidence import LinkEvidence, ThreadLink, gather_links
from crmsync.mapping.links import Target, every_automatic, plan_links
from crmsync.sync_service.engine.link_rows import (
    apply_link_plan,
    held_links,
    stored_participants,
    thread_link,
)
from crmsync.sync_service.engine.settle import settle_activities

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
        removals = removed_targets(session, [a.id for a in batch])
        for activity in batch:
            thread = list(threads.get(activity.conversation, ())) if activity.conversation else []
            desired = _decide(activity, directory, thread)
            counts += _apply(session, activity, desired, removals.get(activity.id, set()), now)
            if activity.conversation:
                threads[activity.conversation] += map(thread_link, held_links(activity.links))
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
        threads[conversation] += map(thread_link, held_links([link]))
    for conversation in wanted:
        threads.setdefault(conversation, [])


def _decide(activity: Activity, directory: Directory, thread: list[ThreadLink]
            ) -> LinkEvidence:
    """Decide ``activity``'s links again; its participants get their current contacts."""
    participants = stored_participants(activity, directory)
    for row, participant in zip(activity.participants, participants, strict=True):
        row.contact_id = participant.contact_id
    if all(p.is_internal for p in participants):
        return gather_links((), activity.subject, directory, ())
    return gather_links(participants, activity.subject, directory, thread)


def _apply(
    session: Session, activity: Activity, evidence: LinkEvidence, removed: set[Target],
    now: datetime,
) -> Counter[str]:
    """Make every automatic link of ``activity`` one of ``evidence``; return the counts."""
    plan = plan_links(held_links(activity.links), evidence.links, removed,
                      replaceable=every_automatic)
    apply_link_plan(activity, plan, now)
    _replace_suggestions(session, activity.id, evidence.suggestions, now)
    return Counter(added=len(plan.add), removed=len(plan.remove), updated=len(plan.update))


def _replace_suggestions(session: Session, activity_id: int, suggestions, now: datetime) -> None:
    session.execute(delete(LinkSuggestion).where(LinkSuggestion.activity_id == activity_id))
    if suggestions:
        session.execute(insert(LinkSuggestion), [
            {"activity_id": activity_id, "opportunity_id": s.target_id, "rank": s.rank,
             "reason": s.reason, "score": s.score, "created_at": now}
            for s in suggestions
        ])
