"""``GET /messages``: recent stored mail, shaped like Outlook items (the preview's mailbox)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crmsync.crm.db import session_scope
from crmsync.crm.export import iso_utc
from crmsync.crm.models import Activity
from crmsync.crm.tracking import find_activity
from crmsync.crm.visibility import visible_activities
from crmsync.sync_service.web.api.blueprint import blueprint, services, viewer
from crmsync.sync_service.web.api.schemas import Schema, Short, Strict

EXCERPT = 4000


class MessagesQuery(Strict):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    internet_message_id = Short(load_default=None, validate=validate.Length(max=1000),
                                metadata={"description": "put this message first"})


class PersonOut(Schema):
    address = Short()
    name = Short()


class MessageOut(Schema):
    internet_message_id = Short(allow_none=True)
    conversation = Short()
    subject = Short()
    occurred_at = Short()
    direction = Short()
    sender = fields.Nested(PersonOut, allow_none=True, data_key="from")
    to = fields.List(fields.Nested(PersonOut))
    cc = fields.List(fields.Nested(PersonOut))
    body_excerpt = Short()


class MessagesOut(Schema):
    messages = fields.List(fields.Nested(MessageOut))


def message_shape(activity: Activity) -> dict[str, Any]:
    def people(role: str) -> list[dict[str, str]]:
        return [{"address": p.address, "name": p.name}
                for p in activity.participants if p.role == role]

    senders = people("from")
    return {
        "internet_message_id": activity.internet_message_id,
        "conversation": activity.conversation, "subject": activity.subject,
        "occurred_at": iso_utc(activity.occurred_at), "direction": activity.direction,
        "sender": senders[0] if senders else None, "to": people("to"), "cc": people("cc"),
        "body_excerpt": (activity.body_text or "")[:EXCERPT],
    }


@blueprint.get("/messages")
@blueprint.arguments(MessagesQuery, location="query")
@blueprint.response(200, MessagesOut)
def recent_messages(args: dict[str, Any]) -> dict[str, Any]:
    """The latest stored mails the viewer may see, newest first, shaped like Outlook items."""
    with session_scope(services().sessions) as session:
        rows = list(session.scalars(
            select(Activity).where(Activity.kind == "email", visible_activities())
            .order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(args["limit"])
            .options(selectinload(Activity.participants)), viewer().seen_by
        ))
        first = find_activity(session, args.get("internet_message_id"), seen_by=viewer().seen_by)
        if first is not None:
            rows = [first] + [r for r in rows if r.id != first.id]
        return {"messages": [message_shape(a) for a in rows]}
