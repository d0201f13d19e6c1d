"""Track, untrack and track-on-send (``/track``, ``/untrack``, ``/track-on-send``)."""

from __future__ import annotations

from typing import Any

from crmsync.crm.addin_models import TrackIntent
from crmsync.crm.db import session_scope
from crmsync.crm.tracking import (
    create_intent,
    ensure_activity,
    find_activity,
    normalize_message_id,
    track,
    untrack,
)
from crmsync.sync_service.api import APIError, blueprint, services, viewer
from crmsync.sync_service.api.cards import tracking_state
from crmsync.sync_service.api.context import item_summary, now
from crmsync.sync_service.api.errors import NotFound
from crmsync.sync_service.api.resolve import find_record, record_ref, resolve_target
from crmsync.sync_service.api.schemas import (
    IntentIn,
    IntentOut,
    TrackIn,
    TrackingOut,
    TrackOut,
    UntrackIn,
)


def _message_id(raw: str) -> str:
    message_id = normalize_message_id(raw)
    if message_id is None:
        raise APIError("internet_message_id is not a Message-ID")
    return message_id


@blueprint.post("/track")
@blueprint.arguments(TrackIn)
@blueprint.response(200, TrackOut)
def track_item(body: dict[str, Any]) -> dict[str, Any]:
    """Link a mail (by internet message id) to a record; calling it again changes nothing.

    When crmsync does not hold the mail yet, ``item`` (what the pane knows of it)
    stores it now; a later sync of the same mail merges into that record.
    """
    who = viewer()
    message_id = _message_id(body["internet_message_id"])
    with session_scope(services().sessions) as session:
        target = resolve_target(session, who, body["target"])
        activity = find_activity(session, message_id)
        if activity is None:
            if not body.get("item"):
                raise NotFound("crmsync does not hold this mail; send 'item' to store it")
            item = {**body["item"], "internet_message_id": message_id}
            summary = item_summary(item, services().internal_domains(session))
            activity = ensure_activity(session, summary, now())
        _, created = track(session, activity, target, who.id, now())
        return {**tracking_state(session, who, message_id), "created": created}


@blueprint.post("/untrack")
@blueprint.arguments(UntrackIn)
@blueprint.response(200, TrackingOut)
def untrack_item(body: dict[str, Any]) -> dict[str, Any]:
    """Remove the mail's link to one record; automation will not link it there again."""
    who = viewer()
    message_id = _message_id(body["internet_message_id"])
    with session_scope(services().sessions) as session:
        target = resolve_target(session, who, body["target"])
        activity = find_activity(session, message_id)
        if activity is None:
            raise NotFound("crmsync does not hold this mail")
        untrack(session, activity, target, who.id, now())
        return tracking_state(session, who, message_id)


@blueprint.post("/track-on-send")
@blueprint.arguments(IntentIn)
@blueprint.response(201, IntentOut)
def track_on_send(body: dict[str, Any]) -> dict[str, Any]:
    """Link the draft to a record once it is sent (when the sync stores it from Sent Items).

    The draft is named by Outlook's conversation id and/or its internet message id
    (or a meeting's item id); asking twice stores one intent.
    """
    who = viewer()
    keys = {k: (body.get(k) or None) for k in ("conversation_id", "internet_message_id", "item_id")}
    if keys["internet_message_id"]:
        keys["internet_message_id"] = _message_id(keys["internet_message_id"])
    if not any(keys.values()):
        raise APIError("name the draft: conversation_id, internet_message_id or item_id")
    with session_scope(services().sessions) as session:
        target = resolve_target(session, who, body["target"])
        intent = create_intent(session, TrackIntent(user_id=who.id, created_at=now(), **keys,
                                                    **target.columns()))
        record = find_record(session, who, body["target"]["type"], body["target"]["external_id"])
        return {"id": intent.id, "target": record_ref(target.kind, record),
                "conversation_id": intent.conversation_id,
                "internet_message_id": intent.internet_message_id}
