"""``POST /webhooks/graph``: Microsoft Graph change and lifecycle notifications.

https://learn.microsoft.com/graph/change-notifications-delivery-webhooks

Graph wants an answer within 3 seconds, so the handler only checks ``clientState``,
queues the work and replies 202; the sync itself runs on the scheduler's thread, or on
a worker when there is a broker (:mod:`.sync_requests`).
The validation handshake (``?validationToken=``) is echoed as ``text/plain``.
"""

from __future__ import annotations

import logging
import threading

from flask import Blueprint, Flask, Response, current_app, request

from crmsync.sync_service.context import Services
from crmsync.sync_service.triggers import graph_subscriptions
from crmsync.sync_service.web.sync_requests import request_sync

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@blueprint.post("/graph")
def graph_notifications() -> Response:
    token = request.args.get("validationToken")
    if token is not None:
        # The handshake Graph sends when a subscription is created: echo it as text.
        return Response(token[:1000], status=200, mimetype="text/plain")
    services: Services = current_app.extensions["crmsync"]
    outcome = graph_subscriptions.read_notifications(services, request.get_json(silent=True) or {})
    if outcome.ignored:
        log.warning("ignored %d Graph notifications (unknown subscription or clientState)",
                    outcome.ignored)
    if outcome.renew:
        _in_background(graph_subscriptions.renew_due, services, None, outcome.renew)
    for name in sorted(outcome.sync):
        request_sync(services, name)
    return Response(status=202)


def _in_background(target, *args) -> None:
    def run() -> None:
        try:
            target(*args)
        except Exception:  # a failed background job must be seen, and must not kill serve
            log.exception("background job %s failed", getattr(target, "__name__", target))

    threading.Thread(target=run, name="crmsync-webhook-job", daemon=True).start()


def register(app: Flask) -> None:
    app.register_blueprint(blueprint)
