"""The console's blueprint and what every page shares: security headers and the language
(route modules add their pages to it; :mod:`.signing_in` adds the gate)."""

from __future__ import annotations

from flask import Blueprint

from crmsync.sync_service.web.admin.i18n import translate

blueprint = Blueprint(
    "admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static"
)
#: the navigation's further pages, (endpoint, English label), added by their modules
NAV: list[tuple[str, str]] = []
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@blueprint.after_request
def _headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.app_template_global("_")
def _translate(text: str) -> str:
    return translate(text)


def services():
    """The process's services (database, secrets) for a console page."""
    from flask import current_app

    return current_app.extensions["crmsync"]
