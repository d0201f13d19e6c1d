"""The Outlook task pane (`/addin/taskpane.html`) and a page playing Outlook (`/addin/preview`).

The pane is static HTML, CSS and ES modules; it reaches the CRM only through
``/api/v1``. It runs under a strict Content-Security-Policy (no inline script, no
eval, scripts only from this origin and Microsoft's Office.js CDN) and renders
every string from mail as text, so a script in a subject never runs.

``?office=standin`` (only with ``CRMSYNC_DEMO=1``) loads :file:`static/office-standin.js`
instead of Office.js: the stand-in the preview page and the browser tests use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, abort, current_app, render_template, request

OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
#: MSAL for nested app authentication, vendored (see static/vendor/README.md); the pane
#: loads it only when Outlook supports NAA and the server names the add-in's client id
MSAL_SCRIPT = "/addin/static/vendor/msal-browser-5.30.0.min.js"
#: hosts allowed to frame the pane: Outlook on the web, new Outlook, Office, Microsoft 365
FRAME_ANCESTORS = (
    "'self' https://outlook.office.com https://outlook.office365.com https://outlook.live.com"
    " https://*.outlook.com https://*.office.com https://*.office365.com"
    " https://*.officeapps.live.com https://*.cloud.microsoft https://*.microsoft.com"
)
PANE_CSP = (
    "default-src 'none'; script-src 'self' https://appsforoffice.microsoft.com; "
    "style-src 'self'; img-src 'self' data:; "
    # MSAL (nested app authentication) may reach Microsoft's sign-in service itself
    "connect-src 'self' https://login.microsoftonline.com; font-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors " + FRAME_ANCESTORS
)
PREVIEW_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

blueprint = Blueprint(
    "addin", __name__, url_prefix="/addin", template_folder="templates",
    static_folder="static", static_url_path="/static",
)


@blueprint.after_request
def _security_headers(response):
    csp = PREVIEW_CSP if request.endpoint == "addin.preview" else PANE_CSP
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def _office_js() -> str:
    """Office.js from Microsoft's CDN, or the stand-in when the preview asks for it."""
    if request.args.get("office") == "standin" and current_app.config.get("DEMO"):
        return "office-standin.js"
    return OFFICE_JS


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def pane_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """What the pane needs before it has a token: how to sign in with NAA (or ``None``).

    Scopes default to the API's app id URI (the first audience) with its scope, the
    form an Outlook token for this API carries.
    """
    client_id = (config.get("ADDIN_CLIENT_ID") or "").strip()
    if not client_id:
        return {"naa": None}
    scopes = _split(config.get("ADDIN_SCOPES") or "")
    audiences = _split(config.get("OUTLOOK_AUDIENCES") or "")
    if not scopes and audiences:
        scopes = [f"{audiences[0].rstrip('/')}/{config.get('OUTLOOK_SCOPE') or 'access_as_user'}"]
    return {"naa": {"client_id": client_id, "scopes": scopes, "script": MSAL_SCRIPT,
                    "authority": config.get("ADDIN_AUTHORITY")
                    or "https://login.microsoftonline.com/common"}}


@blueprint.get("/taskpane.html")
def taskpane() -> Any:
    office = _office_js()
    src = office if office.startswith("https:") else f"/addin/static/{office}"
    return render_template("addin/taskpane.html", office_js=src,
                           config=pane_config(current_app.config))


@blueprint.get("/preview")
def preview() -> Any:
    """The pane inside a page playing Outlook, on a stored message (demo only)."""
    if not current_app.config.get("DEMO"):
        abort(404)
    from crmsync.sync_service.web.api_keys import preview_sign_in

    message = (request.args.get("message") or "").strip()
    signed_in = preview_sign_in(current_app.extensions["crmsync"], message or None)
    if signed_in is None:
        abort(404, "no CRM user to sign in as: import users first")
    key, email, name = signed_in
    data = {"token": key, "user": {"email": email, "name": name}, "message": message,
            "lang": request.args.get("lang") or "en-US",
            "mode": request.args.get("mode") or "read",
            "outlook": request.args.get("outlook") or "current"}
    return render_template("addin/preview.html", data=data)


def register(app: Flask) -> None:
    app.register_blueprint(blueprint)
