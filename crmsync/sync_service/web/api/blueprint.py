"""The API's blueprint and what every route asks of a request: the services and the viewer.

Each surface module adds its routes to :data:`blueprint`;
:func:`crmsync.sync_service.web.api.register` imports them and mounts the blueprint.
"""

from __future__ import annotations

from flask import current_app, g, request
from flask_smorest import Blueprint

from crmsync.crm.db import session_scope
from crmsync.crm.visibility import Viewer, sharing
from crmsync.sync_service.context import Services
from crmsync.sync_service.web.api.errors import Unauthorized, install_error_handlers
from crmsync.sync_service.web.api_keys import user_for_bearer

blueprint = Blueprint(
    "api", __name__, url_prefix="/api/v1", description="CRM lookups and actions for reps"
)
install_error_handlers(blueprint)


def services() -> Services:
    return current_app.extensions["crmsync"]


def viewer() -> Viewer:
    """The signed-in CRM user of this request."""
    return g.viewer


@blueprint.before_request
def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required")
    validator = current_app.extensions.get("crmsync_tokens")
    with session_scope(services().sessions) as session:
        user = user_for_bearer(session, token.strip(), validator,
                               allow_preview=bool(current_app.config.get("DEMO")),
                               source=request.remote_addr or "")
        if user is None:
            raise Unauthorized("the token is not valid")
        g.viewer = Viewer.of(user, sharing(session))
        # kept for code written against the first API
        g.user_id, g.user_role = user.id, user.role
