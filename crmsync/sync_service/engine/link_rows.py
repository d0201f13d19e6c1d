"""An activity's stored rows as the link rule reads them, and the rule's plan applied back.

Every path that links automatically (the page writer for mail and meetings, settling a
conversation, ``crmsync relink``, support intake) asks
:func:`crmsync.mapping.links.plan_links` what to do; this module is the one translation
between its plain values and the ORM rows, so that no path reads a link's target or
writes a new link its own way. Settling and relink also read participants through it,
with each address's current contact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from crmsync.crm.models import Activity, ActivityLink, link_columns, link_target
from crmsync.mapping.directory import Directory
from crmsync.mapping.evidence import ThreadLink
from crmsync.mapping.links import HeldLink, LinkPlan, Target
from crmsync.mapping.records import Participant, ProposedLink


def held_links(links: Iterable[ActivityLink]) -> list[HeldLink]:
    """Return link rows as :class:`HeldLink` values, in the same order (plan positions)."""
    return [
        HeldLink(stored_target(link), link.source == "user", link.reason, link.confidence)
        for link in links
    ]


def stored_target(row: object) -> Target:
    """Return the record a stored link (or a row of its columns) points at.

    :raises ValueError: for a row naming none, which the ``exactly_one_target`` CHECK
        keeps out of the database.
    """
    target = link_target(row)
    if target is None:
        raise ValueError(f"{row!r} names no record")
    return target


def thread_link(held: HeldLink, via_headers: bool = True) -> ThreadLink:
    """Return what a later mail of the conversation inherits from ``held``."""
    return ThreadLink(held.target.kind, held.target.id, held.by_person, via_headers)


def proposal_target(proposal: ProposedLink) -> Target:
    """Return the record ``proposal`` links to."""
    return Target(proposal.kind, proposal.target_id)


def new_link(proposal: ProposedLink, now: datetime) -> ActivityLink:
    """Return an automatic link row for ``proposal``, made at ``now``."""
    return ActivityLink(reason=proposal.reason, confidence=proposal.confidence, source="auto",
                        created_at=now, **link_columns(proposal_target(proposal)))


def apply_link_plan(activity: Activity, plan: LinkPlan, now: datetime) -> None:
    """Apply ``plan``, made from ``held_links(activity.links)``, to the activity's rows.

    Positions refer to the links as they were planned from, so they are resolved before
    any row is removed.
    """
    links = list(activity.links)
    for position, proposal in plan.update:
        links[position].reason = proposal.reason
        links[position].confidence = proposal.confidence
    for position in plan.remove:
        activity.links.remove(links[position])
    for proposal in plan.add:
        activity.links.append(new_link(proposal, now))


def stored_participants(activity: Activity, directory: Directory) -> list[Participant]:
    """Return the activity's participant rows as mapping reads them, in row order.

    Each address's contact is looked up in ``directory`` now, not read from the row: a
    contact created since the mail was stored counts (``crmsync relink`` writes the new
    contact ids back; settling a conversation only reads them).
    """
    participants = []
    for row in activity.participants:
        contact = directory.contact_for(row.address)
        participants.append(Participant(
            address=row.address, name=row.name, role=row.role,
            contact_id=None if contact is None else contact.id,
            is_internal=directory.is_internal(row.address),
        ))
    return participants
