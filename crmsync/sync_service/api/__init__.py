"""The ``/api/v1`` JSON API behind the task pane and scripts.

Every endpoint needs ``Authorization: Bearer <token>``: a per-user API key
(``crmsync apikey create``) or an Outlook SSO / nested-app-authentication access
token (see :mod:`crmsync.sync_service.tokens`). The OpenAPI document at
``/api/v1/openapi.json`` is generated from the code by flask-smorest.

Modules: :mod:`.errors` (JSON errors), :mod:`.access` (who sees what),
:mod:`.schemas` (request and response shapes), and one module per surface:
:mod:`.lookup`, :mod:`.context`, :mod:`.tracking`, :mod:`.records`, :mod:`.templates`.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_smorest import Api, Blueprint

from crmsync.crm.db import session_scope
from crmsync.sync_service.api.access import Viewer
from crmsync.sync_service.api.errors import APIError, Unauthorized, install_error_handlers
from crmsync.sync_service.auth import user_for_bearer
from crmsync.sync_service.context import Services

__all__ = ["APIError", "Unauthorized", "blueprint", "register", "services", "viewer"]

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
        user = user_for_bearer(session, token.strip(), validator)
        if user is None:
            raise Unauthorized("the token is not valid")
        g.viewer = Viewer.of(user)
        # kept for code written against the first API
        g.user_id, g.user_role = user.id, user.role


class _Api(Api):
    """flask-smorest's Api without its app-wide JSON error handler.

    The admin console and the pane keep their own error pages; API routes get
    JSON from the blueprint's handlers (:mod:`.errors`).
    """

    def _register_error_handlers(self) -> None:
        pass


def register(app: Flask) -> None:
    """Register the API and its OpenAPI document (``/api/v1/openapi.json``) on ``app``."""
    from crmsync.sync_service.api import (  # noqa: F401  (each adds its routes)
        context,
        lookup,
        messages,
        records,
        templates,
        tracking,
    )
    from crmsync.sync_service.tokens import validator_from_config

    app.config.setdefault("API_TITLE", "crmsync")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = _Api(app, spec_kwargs={"security": [{"bearer": []}]})
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer",
                   "description": "an API key (crm_...) or an Outlook SSO/NAA access token"}
    )
    app.extensions["crmsync_tokens"] = validator_from_config(app.config)
    api.register_blueprint(blueprint)
