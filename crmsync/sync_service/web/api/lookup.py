"""``GET /lookup``: sender lookup by address (the first API; scripts use it)."""

from __future__ import annotations

from typing import Any

from crmsync.crm.db import session_scope
from crmsync.crm.queries import lookup_sender
from crmsync.sync_service.web.api.access import redact, visible_opportunities
from crmsync.sync_service.web.api.blueprint import blueprint, services, viewer
from crmsync.sync_service.web.api.errors import APIError
from crmsync.sync_service.web.api.schemas import AddressQuery, LookupOut


@blueprint.get("/lookup")
@blueprint.arguments(AddressQuery, location="query")
@blueprint.response(200, LookupOut)
def lookup(args: dict[str, Any]) -> dict[str, Any]:
    """Sender lookup: contact, account, open opportunities, open cases, recent activities."""
    address = (args.get("address") or "").strip()
    if not address:
        raise APIError("the query parameter 'address' is required")
    with session_scope(services().sessions) as session:
        data = lookup_sender(session, address, visible_opportunities(viewer()),
                             seen_by=viewer().seen_by)
        data["opportunities"] = [redact(viewer(), "opportunity", o) for o in data["opportunities"]]
        return data
