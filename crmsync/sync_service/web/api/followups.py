"""``/followups``: the signed-in rep's customer mail waiting for an answer, and dismissing one.

The list is :func:`crmsync.crm.followups.followups_for` for the viewer, the same rule
and shape as ``crmsync followups --rep``; a rep never sees anyone else's. Dismissing
("no reply needed") is allowed only on one of the viewer's own open follow-ups: any
other id (someone else's, answered, a mail the viewer may not see) is 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields

from crmsync.crm.db import session_scope
from crmsync.crm.followups import dismiss, followups_for
from crmsync.crm.models import User
from crmsync.sync_service.web.api.blueprint import blueprint, services, viewer
from crmsync.sync_service.web.api.errors import NotFound
from crmsync.sync_service.web.api.schemas import Strict

#: ids are database integers; a larger number is answered 404 before any query
MAX_ID = 2**31 - 1


class FollowupsQuery(Strict):
    as_of = fields.DateTime(load_default=None, metadata={
        "description": "ISO 8601 instant to evaluate at (default: now)"})


class _Record(Schema):
    external_id = fields.String()
    name = fields.String()
    email = fields.String()
    stage = fields.String()


class _Mail(Schema):
    activity_id = fields.Integer()
    subject = fields.String()
    internet_message_id = fields.String(allow_none=True)
    received = fields.String()


class FollowupOut(Schema):
    id = fields.Integer()
    rep = fields.String()
    contact = fields.Nested(_Record)
    account = fields.Nested(_Record, allow_none=True)
    opportunity = fields.Nested(_Record, allow_none=True)
    mail = fields.Nested(_Mail)
    due = fields.String()


class FollowupsOut(Schema):
    followups = fields.List(fields.Nested(FollowupOut))


class DismissedOut(Schema):
    dismissed = fields.Integer()


def _instant(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@blueprint.get("/followups")
@blueprint.arguments(FollowupsQuery, location="query")
@blueprint.response(200, FollowupsOut)
def list_followups(args: dict[str, Any]) -> dict[str, Any]:
    """The viewer's follow-ups: customer mail unanswered past its due time, due first."""
    with session_scope(services().sessions) as session:
        user = session.get(User, viewer().id)
        assert user is not None  # authenticated just now
        found = followups_for(session, user, _instant(args["as_of"]))
        return {"followups": [f.shape() for f in found]}


@blueprint.post("/followups/<int:activity_id>/dismiss")
@blueprint.response(200, DismissedOut)
def dismiss_followup(activity_id: int) -> dict[str, Any]:
    """Mark one of the viewer's follow-ups "no reply needed"; it clears at once."""
    if activity_id > MAX_ID:
        raise NotFound("no such follow-up")
    with session_scope(services().sessions) as session:
        user = session.get(User, viewer().id)
        assert user is not None
        if not dismiss(session, user, activity_id, datetime.now(UTC)):
            raise NotFound("no such follow-up")
    return {"dismissed": activity_id}
