"""The admin console (``/admin/``): server-rendered, read-only pages for now.

Until sign-in exists it is served only with ``CRMSYNC_DEMO=1``; every page is
rendered with Jinja autoescaping, so text from mail never becomes markup.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from sqlalchemy import func, select

from crmsync.crm.db import session_scope
from crmsync.crm.export import SHAPE_LOADS, activity_shape, iso_utc
from crmsync.crm.models import (
    Activity,
    Mailbox,
    QuarantinedItem,
    SyncState,
)

blueprint = Blueprint(
    "admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static"
)
PAGE = 200


@blueprint.before_request
def _demo_only() -> None:
    if not current_app.config.get("DEMO"):
        abort(403, "the admin console needs CRMSYNC_DEMO=1 until sign-in exists")


@blueprint.after_request
def _headers(response):
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _sessions():
    return current_app.extensions["crmsync"].sessions


@blueprint.get("/")
def activities() -> Any:
    with session_scope(_sessions()) as session:
        rows = session.scalars(
            select(Activity).order_by(Activity.occurred_at.desc()).limit(PAGE)
            .options(*SHAPE_LOADS)
        ).all()
        shaped = [activity_shape(a) for a in rows]
        total = session.scalar(select(func.count()).select_from(Activity))
    return render_template("admin/activities.html", activities=shaped, total=total)


@blueprint.get("/quarantine")
def quarantine() -> Any:
    with session_scope(_sessions()) as session:
        rows = [
            {"origin": q.origin, "folder": q.folder, "item_id": q.item_id, "reason": q.reason,
             "created_at": iso_utc(q.created_at), "size": len(q.raw or b""),
             "preview": (q.raw or b"")[:400].decode("utf-8", "replace")}
            for q in session.scalars(
                select(QuarantinedItem).order_by(QuarantinedItem.id.desc()).limit(PAGE)
            )
        ]
    return render_template("admin/quarantine.html", items=rows)


@blueprint.get("/mailboxes")
def mailboxes() -> Any:
    with session_scope(_sessions()) as session:
        states: dict[int, list[SyncState]] = {}
        for state in session.scalars(select(SyncState).order_by(SyncState.resource)):
            states.setdefault(state.mailbox_id, []).append(state)
        rows = [
            {"name": m.name, "provider": m.provider, "purpose": m.purpose, "status": m.status,
             "last_sync": iso_utc(m.last_sync_at), "last_error": m.last_error,
             "folders": [(s.resource, s.counters or {}) for s in states.get(m.id, [])]}
            for m in session.scalars(select(Mailbox).order_by(Mailbox.name))
        ]
    return render_template("admin/mailboxes.html", mailboxes=rows)


def register(app) -> None:
    """Mount the console and send ``/`` to it."""
    app.register_blueprint(blueprint)
    app.add_url_rule("/", "index", lambda: redirect(url_for("admin.activities")))
