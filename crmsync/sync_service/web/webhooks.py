"""``POST /webhooks/graph``: Microsoft Graph change and lifecycle notifications.

https://learn.microsoft.com/graph/change-notifications-delivery-webhooks

Graph wants an answer within 3 seconds, so the handler only checks ``clientState``,
queues the work and replies 202; the sync itself runs on the scheduler's thread.
The validation handshake (``?validationToken=``) is echoed as ``text/plain``.
"""

from __future__ import annotations

import logging
import threading

from flask import Blueprint, Flask, Response, current_app, request

from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.run import sync_mailbox
from crmsync.sync_service.triggers import graph_subscriptions

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")
#: where ``crmsync serve`` puts its scheduler (anything with ``request_sync(name)``)
SCHEDULER_KEY = "crmsync.scheduler"


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
        _queue_sync(services, name)
    return Response(status=202)


def _queue_sync(services: Services, name: str) -> None:
    scheduler = current_app.extensions.get(SCHEDULER_KEY)
    if scheduler is not None:
        scheduler.request_sync(name)
    else:  # served without the embedded scheduler: sync on a thread of our own
        _in_background(sync_mailbox, services, name)


def _in_background(target, *args) -> None:
    def run() -> None:
        try:
            target(*args)
        except Exception:  # a failed background job must be seen, and must not kill serve
            log.exception("background job %s failed", getattr(target, "__name__", target))

    threading.Thread(target=run, name="crmsync-webhook-job", daemon=True).start()


def register(app: Flask) -> None:
    app.register_blueprint(blueprint)
