"""The Flask application factory: health check, JSON API, task pane, admin console,
Graph webhooks and the calendar feed, on one set of services built at start-up."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from crmsync.sync_service.context import Services
from crmsync.sync_service.startup import build_services
from crmsync.sync_service.web.limits import install_limits
from crmsync.sync_service.web.rate_limits import install_rate_limits


def create_app(
    test_config: dict[str, Any] | None = None, services: Services | None = None
) -> Flask:
    """Build the app; ``test_config`` overrides configuration keys (``DATABASE_URL``, ...)."""
    app = Flask(__name__, static_folder=None)
    services = services or build_services(test_config)
    app.config.update(services.config)
    app.config["TESTING"] = bool((test_config or {}).get("TESTING"))
    app.extensions["crmsync"] = services
    install_limits(app)
    limiter = install_rate_limits(app)

    @app.get("/healthz")
    @limiter.exempt
    def healthz():
        return jsonify(status="ok")

    from crmsync.addin import register as register_addin
    from crmsync.sync_service.web import admin, api, feeds, webhooks

    api.register(app)
    register_addin(app)
    admin.register(app)
    webhooks.register(app)
    feeds.register(app)
    return app
