"""Who is at the console: password sign-in, the session cookie, CSRF, roles.

The session is Flask's signed cookie, ``Secure``, ``HttpOnly`` and ``SameSite=Strict``,
signed with a key derived from the credential key (one secret to keep) and holding only
the user's id and when the session began: the user is read again on every request, so a
demoted admin loses the console at once, and signing out (or a new password) voids every
copy of the cookie. Every POST carries a CSRF token (Flask-WTF's, bound to the session)
and must come from this origin; a refused form answers 400 and changes nothing.
Admins may do everything, managers may look (every POST but sign-out gets 403), other
roles are refused at sign-in.

Sign-in failures read the same whether the address is unknown, the password wrong or
the account locked (:mod:`crmsync.crm.sign_in`); they are limited per IP address too.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms.validators import ValidationError

from crmsync.crm.audit import record
from crmsync.crm.db import session_scope
from crmsync.crm.models import User
from crmsync.crm.sign_in import check_password, end_sessions, session_is_current
from crmsync.crm.visibility import Viewer, sharing
from crmsync.mapping.privacy import address_hash
from crmsync.sync_service.web.admin.blueprint import NAV, blueprint
from crmsync.sync_service.web.admin.i18n import language, translate

#: roles that reach the console, and whether they may change things
CONSOLE_ROLES = {"admin": True, "manager": False}
#: endpoints reachable without a session (Microsoft's round trips come back without the
#: SameSite=Strict cookie: their views bring it along and check the user themselves)
OPEN_ENDPOINTS = frozenset({"admin.sign_in", "admin.static", "admin.entra_start",
                            "admin.entra_return", "admin.microsoft365_consent_return",
                            "admin.microsoft365_reauth_return"})
CONSOLE_PATH = "/admin"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
NEEDS_HTTPS = ("This page was opened over plain http: the browser will not keep the "
               "console's secure session cookie, so signing in cannot work. Open the console "
               "over https (e.g. behind a reverse proxy), or at http://localhost on this "
               "machine.")
SESSION_HOURS = 8
SIGN_IN_LIMIT = "10/minute"


def install(app: Flask) -> None:
    """Configure the session cookie and limit sign-in attempts per IP address."""
    app.config.update(
        SESSION_COOKIE_NAME="crmsync_console",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH=CONSOLE_PATH,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,
        # The credential key must never sign cookies: a derived key does (_DerivedKeySessions).
        SECRET_KEY=None,
    )
    app.session_interface = _DerivedKeySessions()
    limit_view(app, "admin.sign_in", SIGN_IN_LIMIT)


def limit_view(app: Flask, endpoint: str, limit: str, key_func: Any = None) -> None:
    """Put a Flask-Limiter limit on one registered console view (POSTs only): the
    blueprint is shared by every app, the limiter is one app's."""
    limiter = app.extensions["crmsync_limiter"]
    app.view_functions[endpoint] = limiter.limit(limit, key_func=key_func, methods=["POST"])(
        app.view_functions[endpoint])


class _DerivedKeySessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the key derived on first use (opening the
    credential key at start-up would create a key file for processes that never sign in)."""

    def open_session(self, app: Flask, request: Any) -> Any:
        """Only the console has sessions: the API, pane and feeds never read a cookie."""
        if not (request.path + "/").startswith(CONSOLE_PATH + "/"):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> Any:
        if not app.secret_key:
            services = app.extensions["crmsync"]
            app.secret_key = services.secret_box().derive(b"console session v1")
        return super().get_signing_serializer(app)


@blueprint.context_processor
def _page_globals() -> dict[str, Any]:
    return {"csrf_token": generate_csrf, "lang": language(), "console_user": current_user(),
            "console_pages": NAV}


@blueprint.before_request
def _gate() -> Any:
    """Every console request: a signed-in console user, and a valid form on POST."""
    if request.method == "POST":
        _check_form()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    user = current_user()
    if user is None:
        return redirect(url_for("admin.sign_in"))
    if request.method == "POST" and not user["may_change"] and request.endpoint != \
            "admin.sign_out":
        abort(403, "managers have a read-only view of the console")
    return None


def _check_form() -> None:
    """A POST must come from this origin and carry the session's CSRF token."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        abort(400, "the form did not come from this console")
    try:
        validate_csrf(request.form.get("csrf_token", ""))
    except (ValidationError, CSRFError):
        abort(400, "the form expired or did not come from this console")


def current_user() -> dict[str, Any] | None:
    """The signed-in console user as ``{id, email, name, role, may_change, viewer}``
    (``viewer``: what they may see, :mod:`crmsync.crm.visibility`), or None."""
    if "console_user" in g:
        return g.console_user
    user_id, begun = session.get("uid"), session.get("begun")
    found = None
    if isinstance(user_id, int) and isinstance(begun, float):
        with session_scope(current_app.extensions["crmsync"].sessions) as db:
            user = db.get(User, user_id)
            if user is not None and user.role in CONSOLE_ROLES \
                    and session_is_current(user, begun):
                found = {"id": user.id, "email": user.email, "name": user.name,
                         "role": user.role, "may_change": CONSOLE_ROLES[user.role],
                         "viewer": Viewer.of(user, sharing(db))}
    if found is None:
        session.pop("uid", None)
    g.console_user = found
    return found


def audit_action(db: Any, action: str, target: object = "", **detail: Any) -> None:
    """One audit row for a console action: the signed-in user, the request's address.

    Targets are names and ids only (a mailbox, a user, an item id): never a secret, and
    never text that may quote a customer's address.
    """
    record(db, current_user()["email"], action, str(target), request.remote_addr or "",
           **detail)


def begin_session(user: User) -> None:
    """Start a fresh session for ``user`` (a new id: no session fixation)."""
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["begun"] = time.time()
    generate_csrf()


@blueprint.route("/login", methods=["GET", "POST"])
def sign_in() -> Any:
    """Console: sign in with email and password (admins and managers)."""
    if request.method == "GET":
        if current_user() is not None:
            return redirect(url_for("admin.mailboxes"))
        return _sign_in_page()
    email = request.form.get("email", "")[:320]
    password = request.form.get("password", "")
    services = current_app.extensions["crmsync"]
    with session_scope(services.sessions) as db:
        user = check_password(db, email, password)
        if user is None:
            record(db, "sha256:" + address_hash(email.strip().lower() or "-"),
                   "console.sign_in_failed", "", request.remote_addr or "")
            error = ("The email or password is wrong, or the account is locked for a while "
                     "after too many attempts.")
            return _sign_in_page(error, email), 401
        if user.role not in CONSOLE_ROLES:
            return _sign_in_page("Only admins can use the console.", email), 403
        record(db, user.email, "console.sign_in", user.email, request.remote_addr or "",
               method="password")
        begin_session(user)
    return redirect(url_for("admin.mailboxes"))


def entra_configured() -> bool:
    """Whether "Sign in with Microsoft" is offered (:mod:`.entra`)."""
    return bool(current_app.config.get("CONSOLE_ENTRA_CLIENT_ID"))


def _sign_in_page(error: str = "", email: str = "") -> str:
    return render_template("admin/sign_in.html", error=translate(error) if error else "",
                           email=email, entra=entra_configured(),
                           needs_https=translate(NEEDS_HTTPS) if _cookie_wont_stick() else "")


def _cookie_wont_stick() -> bool:
    """Whether this browser will drop the Secure session cookie: plain http to a host
    other than this machine (browsers keep Secure cookies over http only for localhost)."""
    host = urlsplit(f"//{request.host}").hostname or ""
    return not request.is_secure and host not in LOOPBACK_NAMES


@blueprint.post("/logout")
def sign_out() -> Any:
    """End this session and every other of the user's (a copied cookie dies too)."""
    user = current_user()
    if user is not None:
        with session_scope(current_app.extensions["crmsync"].sessions) as db:
            signed_out = db.get(User, user["id"])
            if signed_out is not None:
                end_sessions(signed_out)
    session.clear()
    return redirect(url_for("admin.sign_in"))
