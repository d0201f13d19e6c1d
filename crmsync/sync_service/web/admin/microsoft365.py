"""Microsoft 365 mailboxes' round trips through a browser: admin consent, and signing a
delegated mailbox's user in again.

**Admin consent** (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent):
an app-only mailbox's app registration needs a tenant administrator to grant its Graph
application permissions once. "Grant admin consent" sends the browser to the tenant's
``/v2.0/adminconsent`` with a ``state`` kept in the session, and the answer comes back to
``/admin/microsoft365/consent/return`` (a redirect URI of that app registration), which
says in plain words whether consent was granted and, if not, what to do.

**Re-authenticate**: a delegated mailbox (``crmsync mailbox add graph --delegated``)
holds its user's msal token cache; when Microsoft refuses its refresh token the mailbox
"needs re-auth". Its user signs in again in the browser through the authorization code
flow with PKCE as the same public client the device code used (register
``/admin/microsoft365/reauth/return`` under "Mobile and desktop applications"); the new
cache is sealed to the mailbox row like every credential
(:func:`~crmsync.sync_service.mailboxes.lifecycle.reauthenticated`) and the next run syncs.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import quote, urlencode

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from crmsync.connectors.graph.auth import browser_sign_in_finish, browser_sign_in_start
from crmsync.connectors.graph.settings import DEFAULT_GRAPH, GraphSettings
from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.errors import AuthError, CrmSyncError
from crmsync.sync_service.mailboxes import lifecycle
from crmsync.sync_service.web.admin.blueprint import blueprint, services
from crmsync.sync_service.web.admin.entra import (
    answer,
    http_session,
    keep_flow,
    redirect_page,
    take_flow,
)
from crmsync.sync_service.web.admin.i18n import add_chinese, translate
from crmsync.sync_service.web.admin.mailboxes import PROVIDERS
from crmsync.sync_service.web.admin.signing_in import audit_action, current_user

CONSENT_KEY = "m365_consent"
REAUTH_KEY = "m365_reauth"
#: a tenant (GUID or domain) or an app's client id, as they may be typed
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,99}")
#: Microsoft's answers that mean "the person did not (or may not) consent"
DECLINED = frozenset({"access_denied", "consent_required"})


def _outcome(heading: str, text: str, ok: bool, next_step: str = "", status: int = 200,
             back: str = "") -> Any:
    return render_template("admin/microsoft365.html", heading=translate(heading), text=text,
                           ok=ok, next_step=translate(next_step) if next_step else "",
                           back=back), status


def _signed_in_admin() -> Any:
    """The return views are open (the cookie comes along on the reload): check here."""
    user = current_user()
    if user is None:
        return redirect(url_for("admin.sign_in"))
    if not user["may_change"]:
        abort(403, "managers have a read-only view of the console")
    return None


# -- admin consent -----------------------------------------------------------------------


@blueprint.post("/microsoft365/consent")
def microsoft365_consent() -> Any:
    """Send the browser to the tenant's admin consent for an app registration: a
    mailbox's (``mailbox_id``) or the one typed in the add form (``tenant``, ``client_id``)."""
    tenant, client_id, hosts = _consent_target()
    if not (_NAME.fullmatch(tenant) and _NAME.fullmatch(client_id)):
        return _outcome("Grant admin consent", translate(
            "Give the tenant (its ID or domain) and the app's client ID, then press Grant "
            "admin consent again."), False, status=400)
    state = secrets.token_urlsafe(24)
    keep_flow(CONSENT_KEY, {"state": state, "tenant": tenant, "client_id": client_id})
    with session_scope(services().sessions) as db:
        audit_action(db, "microsoft365.consent_requested", tenant, client_id=client_id)
    query = urlencode({
        "client_id": client_id, "scope": f"{hosts[1].rstrip('/')}/.default",
        "redirect_uri": url_for("admin.microsoft365_consent_return", _external=True),
        "state": state})
    return redirect_page(f"{hosts[0].rstrip('/')}/{quote(tenant)}/v2.0/adminconsent?{query}")


def _consent_target() -> tuple[str, str, tuple[str, str]]:
    """(tenant, client id, (sign-in host, Graph host)) of the mailbox or the typed form."""
    host = str(current_app.config["CONSOLE_ENTRA_AUTHORITY_HOST"])
    if request.form.get("mailbox_id", "").isdigit():
        with session_scope(services().sessions) as db:
            mailbox = _graph_mailbox(db, int(request.form["mailbox_id"]))
            settings = mailbox.settings or {}
            return (str(settings.get("tenant", "")), str(settings.get("client_id", "")),
                    (str(settings.get("authority_url") or host),
                     str(settings.get("graph_url") or DEFAULT_GRAPH)))
    graph = request.form.get("graph_url", "").strip()[:500]
    return (request.form.get("tenant", "").strip()[:100],
            request.form.get("client_id", "").strip()[:100],
            (host, graph if graph.startswith("https://") else DEFAULT_GRAPH))


@blueprint.get("/microsoft365/consent/return")
def microsoft365_consent_return() -> Any:
    """Say what the tenant answered: consent granted, or why not and what to do."""
    pending = take_flow(CONSENT_KEY)
    if pending is None:
        return _outcome("Grant admin consent", translate(
            "This answer from Microsoft is not for a consent request of yours, or it was "
            "already used."), False, "Press Grant admin consent again.", 400)
    if (refused := _signed_in_admin()) is not None:
        return refused
    tenant = str(pending["tenant"])
    error = request.args.get("error", "")[:100]
    with session_scope(services().sessions) as db:
        if error or request.args.get("admin_consent", "").lower() != "true":
            audit_action(db, "microsoft365.consent_refused", tenant, error=error or "no answer")
            return _consent_refused(tenant, error)
        audit_action(db, "microsoft365.consent_granted", tenant, client_id=pending["client_id"])
    return _outcome("Grant admin consent", translate("Consent granted for tenant") +
                    f" {tenant}.", True, "Mailboxes of this app can now be tested and synced.")


def _consent_refused(tenant: str, error: str) -> Any:
    """The refusal in plain words, with Microsoft's own words after it."""
    description = request.args.get("error_description", "").splitlines()[0:1]
    said = f" ({error}: {description[0][:300]})" if description else f" ({error})"
    text = translate("Consent was not granted for tenant") + f" {tenant}." + said
    if error in DECLINED:
        step = ("The consent was declined, or the account that signed in may not grant it: a "
                "Global Administrator (or Cloud Application Administrator) of that tenant "
                "should press Grant admin consent and accept.")
    else:
        step = ("Check the tenant and the app's client ID, and that this console's return "
                "address is a redirect URI of the app registration; then press Grant admin "
                "consent again.")
    return _outcome("Grant admin consent", text, False, step)


# -- re-authenticating a delegated mailbox -----------------------------------------------


def _graph_mailbox(db: Any, mailbox_id: int) -> Mailbox:
    mailbox = db.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.removed_at is not None or mailbox.provider != "graph":
        abort(404)
    return mailbox


def _delegated_settings(mailbox: Mailbox) -> GraphSettings:
    """The mailbox's settings, when its user signs it in (else 400: nothing to do here)."""
    try:
        settings = GraphSettings.from_mapping(mailbox.settings or {})
    except CrmSyncError:
        settings = None
    if settings is None or not settings.delegated:
        abort(400, "only a mailbox signed in as its own user (delegated) is re-authenticated "
                   "in the browser; an app-only mailbox needs its secret or admin consent")
    return settings


@blueprint.post("/mailboxes/<int:mailbox_id>/reauthenticate")
def microsoft365_reauth(mailbox_id: int) -> Any:
    """Send the browser to Microsoft to sign the mailbox's user in again."""
    with session_scope(services().sessions) as db:
        settings = _delegated_settings(_graph_mailbox(db, mailbox_id))
    back = url_for("admin.mailbox_detail", mailbox_id=mailbox_id)
    try:
        with http_session() as http:
            flow = browser_sign_in_start(
                settings.authority, settings.client_id, settings.graph_url,
                url_for("admin.microsoft365_reauth_return", _external=True), http,
                login_hint=settings.address)
    except CrmSyncError as exc:
        return _outcome("Re-authenticate", translate(
            "Microsoft's sign-in service could not be reached") + f" ({exc}).", False,
            "Try again in a moment.", 502, back)
    keep_flow(REAUTH_KEY, {**flow, "mailbox_id": mailbox_id})
    with session_scope(services().sessions) as db:
        audit_action(db, "mailbox.reauth_started", _graph_mailbox(db, mailbox_id).name)
    return redirect_page(flow["auth_uri"])


@blueprint.get("/microsoft365/reauth/return")
def microsoft365_reauth_return() -> Any:
    """Store the new sign-in, sealed to the mailbox, when its own user signed in."""
    flow = take_flow(REAUTH_KEY)
    if flow is None:
        return _outcome("Re-authenticate", translate(
            "This answer from Microsoft is not for a sign-in you started, or it was already "
            "used."), False, "Press Re-authenticate again.", 400)
    if (refused := _signed_in_admin()) is not None:
        return refused
    mailbox_id = int(flow.pop("mailbox_id"))
    back = url_for("admin.mailbox_detail", mailbox_id=mailbox_id)
    with session_scope(services().sessions) as db:
        mailbox = _graph_mailbox(db, mailbox_id)
        name, settings = mailbox.name, _delegated_settings(mailbox)
    try:
        with http_session() as http:
            cache, claims = browser_sign_in_finish(settings.authority, settings.client_id,
                                                   flow, answer(), http)
    except AuthError as exc:
        return _reauth_failed(name, back, translate("Microsoft did not sign the mailbox in")
                              + f" ({exc}).", 401)
    except CrmSyncError as exc:
        return _reauth_failed(name, back, translate(
            "Microsoft's sign-in service could not be reached") + f" ({exc}).", 502)
    signed_in = str(claims.get("preferred_username") or "").strip().lower()
    if signed_in != settings.address:
        return _reauth_failed(name, back, translate("The account that signed in is not the "
                              "mailbox's own") + f" ({signed_in or '?'} ≠ {settings.address}).",
                              403)
    with session_scope(services().sessions) as db:
        lifecycle.reauthenticated(db, services().secret_box(), name, cache)
        audit_action(db, "mailbox.reauthenticated", name)
    flash(translate("Mailbox re-authenticated: the next sync uses the new sign-in."))
    return redirect(back)


def _reauth_failed(name: str, back: str, text: str, status: int) -> Any:
    with session_scope(services().sessions) as db:
        audit_action(db, "mailbox.reauth_failed", name, status=status)
    return _outcome("Re-authenticate", text + " " + translate("Nothing was saved."), False,
                    "Press Re-authenticate again and sign in as the mailbox's own user.",
                    status, back)


@blueprint.app_template_global()
def microsoft365_fix(row: dict[str, Any]) -> str:
    """What fixes a Microsoft 365 mailbox that needs re-auth: ``reauth`` (its user signs in
    again) or ``consent`` (app-only: admin consent); ``""`` for every other mailbox."""
    if row.get("status") != "needs re-auth" or row.get("provider") != PROVIDERS["graph"]:
        return ""
    with session_scope(services().sessions) as db:
        settings = db.scalar(select(Mailbox.settings).where(Mailbox.id == row["id"])) or {}
    return "reauth" if settings.get("credential") == "delegated" else "consent"


add_chinese({
    "Grant admin consent": "授予管理员同意",
    "Re-authenticate": "重新验证",
    "Give the tenant (its ID or domain) and the app's client ID, then press Grant admin "
    "consent again.": "请填写租户（ID 或域名）和应用的客户端 ID，然后再次点击“授予管理员同意”。",
    "This answer from Microsoft is not for a consent request of yours, or it was already "
    "used.": "Microsoft 的此应答不属于您发起的同意请求，或已被使用。",
    "Press Grant admin consent again.": "请再次点击“授予管理员同意”。",
    "Consent granted for tenant": "已为以下租户授予同意：",
    "Mailboxes of this app can now be tested and synced.": "现在可以测试和同步此应用的邮箱。",
    "Consent was not granted for tenant": "未为以下租户授予同意：",
    "The consent was declined, or the account that signed in may not grant it: a Global "
    "Administrator (or Cloud Application Administrator) of that tenant should press Grant "
    "admin consent and accept.": "同意被拒绝，或登录的帐户无权授予同意：请该租户的全局管理员"
    "（或云应用程序管理员）点击“授予管理员同意”并接受。",
    "Check the tenant and the app's client ID, and that this console's return address is a "
    "redirect URI of the app registration; then press Grant admin consent again.":
        "请检查租户和应用的客户端 ID，并确认本控制台的返回地址是该应用注册的重定向 URI；"
        "然后再次点击“授予管理员同意”。",
    "Microsoft's sign-in service could not be reached": "无法连接 Microsoft 登录服务",
    "Try again in a moment.": "请稍后重试。",
    "This answer from Microsoft is not for a sign-in you started, or it was already used.":
        "Microsoft 的此应答不属于您发起的登录，或已被使用。",
    "Press Re-authenticate again.": "请再次点击“重新验证”。",
    "Microsoft did not sign the mailbox in": "Microsoft 未能登录该邮箱",
    "The account that signed in is not the mailbox's own": "登录的帐户不是该邮箱自己的帐户",
    "Mailbox re-authenticated: the next sync uses the new sign-in.":
        "邮箱已重新验证：下次同步将使用新的登录。",
    "Press Re-authenticate again and sign in as the mailbox's own user.":
        "请再次点击“重新验证”，并以该邮箱自己的用户登录。",
})
