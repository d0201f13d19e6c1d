"""The ``/api/v1`` JSON API behind the task pane and scripts.

Every endpoint needs ``Authorization: Bearer <token>``: a per-user API key
(``crmsync apikey create``) or an Outlook SSO / nested-app-authentication access
token (see :mod:`crmsync.sync_service.web.outlook_tokens`). The OpenAPI document at
``/api/v1/openapi.json`` is generated from the code by flask-smorest.

Modules: :mod:`.blueprint` (the blueprint, authentication, the request's viewer),
:mod:`.errors` (JSON errors), :mod:`.access` (who sees what),
:mod:`.schemas` (request and response shapes), and one module per surface:
:mod:`.lookup`, :mod:`.context`, :mod:`.tracking`, :mod:`.records`, :mod:`.templates`.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

__all__ = ["register"]

class _Api(Api):
    """flask-smorest's Api without its app-wide JSON error handler.

    The admin console and the pane keep their own error pages; API routes get
    JSON from the blueprint's handlers (:mod:`.errors`).
    """

    def _register_error_handlers(self) -> None:
        pass


def register(app: Flask) -> None:
    """Register the API and its OpenAPI document (``/api/v1/openapi.json``) on ``app``."""
    from crmsync.sync_service.web.api import (  # noqa: F401  (each adds its routes)
        audit,
        context,
        lookup,
        meetings,
        messages,
        records,
        templates,
        tracking,
    )
    from crmsync.sync_service.web.api.blueprint import blueprint
    from crmsync.sync_service.web.outlook_tokens import validator_from_config
    from crmsync.sync_service.web.rate_limits import limit_callers

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
    limit_callers(app.extensions["crmsync_limiter"], blueprint, app)
    api.register_blueprint(blueprint)
