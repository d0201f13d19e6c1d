"""``GET /audit``: the audit log, for admins only (anyone else: 404, as for anything absent)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from crmsync.crm.audit import event_shape, recent_events
from crmsync.crm.db import session_scope
from crmsync.sync_service.web.api.blueprint import blueprint, services, viewer
from crmsync.sync_service.web.api.errors import NotFound
from crmsync.sync_service.web.api.schemas import Schema, Short, Strict


class AuditQuery(Strict):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    action = Short(load_default=None, validate=validate.Length(max=100))


class AuditEventOut(Schema):
    at = Short()
    actor = Short()
    action = Short()
    target = Short()
    source = Short()
    detail = fields.Dict()


class AuditOut(Schema):
    events = fields.List(fields.Nested(AuditEventOut))


@blueprint.get("/audit")
@blueprint.arguments(AuditQuery, location="query")
@blueprint.response(200, AuditOut)
def audit_log(args: dict[str, Any]) -> dict[str, Any]:
    """Security-relevant actions, newest first (admins only)."""
    if viewer().role != "admin":
        raise NotFound("not found")
    with session_scope(services().sessions) as session:
        events = recent_events(session, args["limit"], args.get("action"))
        return {"events": [event_shape(event) for event in events]}
