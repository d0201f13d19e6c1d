"""``POST /context``: everything the pane shows for the open item, in one round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from crmsync.crm.db import session_scope
from crmsync.crm.tracking import MeetingKeys, find_meeting
from crmsync.sync_service.web.api.access import Viewer
from crmsync.sync_service.web.api.blueprint import blueprint, services, viewer
from crmsync.sync_service.web.api.cards import (
    activity_links,
    card,
    external_participants,
    suggestions,
    tracking_state,
)
from crmsync.sync_service.web.api.schemas import ContextOut, ItemIn

#: at most this many participant cards (a mail to 200 people shows the first ones)
MAX_CARDS = 12


def people_of(item: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(address, name, role) of an item's sender, To and Cc, in that order."""
    people = []
    if item.get("sender"):
        people.append((item["sender"]["address"], item["sender"].get("name", ""), "from"))
    for role in ("to", "cc"):
        people += [(p["address"], p.get("name", ""), role) for p in item.get(role) or []]
    return people


def build_context(session: Session, who: Viewer, item: dict[str, Any]) -> dict[str, Any]:
    """Cards for the external participants, the tracking state and ranked suggestions."""
    internal = services().internal_domains(session)
    people = external_participants(people_of(item), internal, who)[:MAX_CARDS]
    cards = [card(session, who, person) for person in people]
    tracking = tracking_state(session, who, item.get("internet_message_id"))
    if item.get("mode") == "appointment":
        tracking["links"] = _meeting_links(session, who, item)
    return {
        "user": {"email": who.email, "name": who.name, "role": who.role},
        "participants": cards,
        "tracking": tracking,
        "suggestions": suggestions(session, item.get("subject", ""), cards, tracking["links"]),
    }


def _meeting_links(session: Session, who: Viewer, item: dict[str, Any]) -> list[dict]:
    """Where the open meeting is linked, when crmsync holds it (by either item id)."""
    meeting = find_meeting(session, MeetingKeys(item.get("item_id"), item.get("rest_item_id")),
                           seen_by=who.seen_by)
    return activity_links(session, who, meeting) if meeting is not None else []


@blueprint.post("/context")
@blueprint.arguments(ItemIn)
@blueprint.response(200, ContextOut)
def item_context(item: dict[str, Any]) -> dict[str, Any]:
    """The open Outlook item in CRM terms: participant cards, tracking, suggestions.

    One call paints the pane: a card per external participant (contact, account,
    open opportunities and cases, recent timeline, or a prefilled "create contact"),
    where the mail is tracked to and why, and the records it could be tracked to.
    """
    with session_scope(services().sessions) as session:
        return build_context(session, viewer(), item)


def now() -> datetime:
    return datetime.now(UTC)
