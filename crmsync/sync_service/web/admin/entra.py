"""Microsoft Entra sign-in for the console (OpenID Connect authorization code, via msal).

Shown beside the password form when ``CONSOLE_ENTRA_CLIENT_ID`` is configured. The
console is a confidential client of its own app registration (``CONSOLE_ENTRA_CLIENT_ID``
and ``_SECRET``), at the organization's authority (``CONSOLE_ENTRA_AUTHORITY_HOST`` +
``/`` + ``CONSOLE_ENTRA_TENANT``); register ``https://<console>/admin/login/microsoft/
return`` as its web redirect URI.

Who signed in is decided as for Outlook's tokens: the id token's immutable ``tid`` +
``oid``, bound once to the CRM user whose address the first sign-in carried
(:func:`~crmsync.sync_service.web.api_keys.user_for_identity`). msal checks the answer's
``state`` and the id token's ``nonce``; the id token's signature (the tenant's published
keys), audience, issuer and tenant are checked here, since msal no longer does.

Microsoft hands the browser back from its own site, so the console's ``SameSite=Strict``
cookie is not sent on that first request: :func:`take_flow` answers it with a page that
reloads the same address from the console's own page, which carries the cookie. The
other Microsoft round trips (:mod:`.microsoft365`) return the same way.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from flask import (
    Flask,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from crmsync.connectors.graph.auth import (
    confidential_app,
    finish_auth_code_flow,
    start_auth_code_flow,
)
from crmsync.connectors.https import ca_bundle
from crmsync.crm.audit import record
from crmsync.crm.db import session_scope
from crmsync.errors import AuthError, CrmSyncError
from crmsync.mapping.privacy import address_hash
from crmsync.sync_service.web.admin.blueprint import blueprint, services
from crmsync.sync_service.web.admin.i18n import add_chinese, translate
from crmsync.sync_service.web.admin.signing_in import (
    CONSOLE_ROLES,
    SIGN_IN_LIMIT,
    begin_session,
    entra_configured,
)
from crmsync.sync_service.web.api_keys import user_for_identity
from crmsync.sync_service.web.outlook_tokens import InvalidToken, identity_from_claims

#: the session key of a started sign-in (msal's flow: state, nonce, PKCE verifier)
FLOW_KEY = "entra_sign_in"
#: the query flag of the reload that brings the session cookie along
BOUNCED = "bounced"
#: what a browser may bring back from Microsoft (code, state, id token parts)
MAX_RETURN_QUERY = 8192
ID_TOKEN_ALGORITHMS = ["RS256"]
HTTP_TIMEOUT = 10


def install(app: Flask) -> None:
    """Limit starting sign-ins per IP address: each one reads Microsoft's metadata."""
    limiter = app.extensions["crmsync_limiter"]
    app.view_functions["admin.entra_start"] = limiter.limit(SIGN_IN_LIMIT)(
        app.view_functions["admin.entra_start"])


def http_session() -> requests.Session:
    """An HTTP session to Microsoft's sign-in service, trusting what Graph connections
    trust (``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``)."""
    http = requests.Session()
    http.verify = ca_bundle()
    return http


# -- Microsoft's round trips: out through a page, back through the session ----------------


def redirect_page(url: str, status: int = 200) -> Any:
    """Send the browser to ``url`` from a page of the console.

    A form's answer may not redirect to Microsoft (the CSP's ``form-action 'self'`` covers
    redirects too), and a reload from the console's own page carries its ``SameSite=Strict``
    cookie; this page does both jobs, without script.
    """
    return render_template("admin/microsoft_redirect.html", url=url), status


def keep_flow(key: str, flow: dict[str, Any]) -> None:
    """Remember a started round trip in the session (signed, and bound to this browser);
    the address to open is not kept."""
    session[key] = {k: v for k, v in flow.items() if k != "auth_uri"}


def take_flow(key: str) -> dict[str, Any] | None:
    """The round trip this browser started under ``key``, for the answer Microsoft sent
    back; ``None`` when the answer is not for it (no or another ``state``), which the
    caller refuses with 400. Each started round trip is answered once.

    When the session did not come along (Microsoft's site sent the browser back), this
    answers with the page that reloads the address from the console instead.
    """
    state = request.args.get("state", "")
    if not state or len(request.query_string) > MAX_RETURN_QUERY:
        return None
    flow = session.get(key)
    if flow is None:
        if BOUNCED in request.args:
            return None
        again = f"{request.path}?{urlencode({**request.args.to_dict(), BOUNCED: '1'})}"
        abort(make_response(redirect_page(again)))
    session.pop(key)
    if not isinstance(flow, dict) or not secrets.compare_digest(
            str(flow.get("state", "")).encode(), state.encode()):
        return None
    return flow


def answer() -> dict[str, str]:
    """Microsoft's answer as msal reads it (our reload flag left out)."""
    return {k: v for k, v in request.args.to_dict().items() if k != BOUNCED}


# -- signing in --------------------------------------------------------------------------


def _authority() -> str:
    config = current_app.config
    return (f"{str(config['CONSOLE_ENTRA_AUTHORITY_HOST']).rstrip('/')}/"
            f"{config['CONSOLE_ENTRA_TENANT']}")


def _msal_app(http: requests.Session) -> Any:
    config = current_app.config
    return confidential_app(_authority(), config["CONSOLE_ENTRA_CLIENT_ID"],
                            config["CONSOLE_ENTRA_CLIENT_SECRET"], http)


@blueprint.get("/login/microsoft")
def entra_start() -> Any:
    """Send the browser to Microsoft's sign-in, with a new flow kept in the session."""
    if not entra_configured():
        abort(404)
    try:
        with http_session() as http:
            flow = start_auth_code_flow(_msal_app(http), [],
                                        url_for("admin.entra_return", _external=True))
    except CrmSyncError as exc:
        return _refused("Microsoft's sign-in service could not be reached; try again, or "
                        "sign in with your password.", 502, str(exc))
    keep_flow(FLOW_KEY, flow)
    return redirect(flow["auth_uri"])


@blueprint.get("/login/microsoft/return")
def entra_return() -> Any:
    """Finish the sign-in: who Microsoft says signed in, bound to a CRM user, gets a
    session when they are an admin or a manager."""
    if not entra_configured():
        abort(404)
    flow = take_flow(FLOW_KEY)
    if flow is None:
        return _refused("This Microsoft sign-in was not started here or was already used: "
                        "press Sign in with Microsoft again.", 400)
    try:
        with http_session() as http:
            result = finish_auth_code_flow(_msal_app(http), flow, answer())
            claims = verified_claims(http, str(result.get("id_token", "")))
    except AuthError as exc:
        return _refused("Microsoft did not sign you in: try again.", 401, str(exc))
    except CrmSyncError as exc:
        return _refused("Microsoft's sign-in service could not be reached; try again, or "
                        "sign in with your password.", 502, str(exc))
    except OtherTenantError as exc:
        return _refused_user(exc.address, "tenant",
                             "This Microsoft account belongs to another organization.")
    except InvalidToken as exc:
        return _refused("Microsoft's answer could not be verified: try again.", 401, str(exc))
    return _begin(claims)


def _begin(claims: dict[str, Any]) -> Any:
    """Sign in the CRM user of the verified claims, or say why not."""
    try:
        identity = identity_from_claims(claims)
    except InvalidToken as exc:
        return _refused("Microsoft's answer names no user account.", 401, str(exc))
    with session_scope(services().sessions) as db:
        user = user_for_identity(db, identity, request.remote_addr or "")
        if user is None:
            _audit_refusal(db, identity.address, "unknown")
            return _refused("No crmsync user has this Microsoft account: ask an admin to "
                            "add you (crmsync user add).", 403)
        if user.role not in CONSOLE_ROLES:
            _audit_refusal(db, identity.address, "role")
            return _refused("Only admins can use the console.", 403)
        record(db, user.email, "console.sign_in", user.email, request.remote_addr or "",
               method="entra")
        begin_session(user)
    return redirect(url_for("admin.mailboxes"))


def _refused_user(address: str, reason: str, message: str) -> Any:
    with session_scope(services().sessions) as db:
        _audit_refusal(db, address, reason)
    return _refused(message, 403)


def _audit_refusal(db: Any, address: str, reason: str) -> None:
    """Refusals are audited like wrong passwords: under a hash, never the address."""
    record(db, "sha256:" + address_hash(address.strip().lower() or "-"),
           "console.sign_in_failed", "", request.remote_addr or "", method="entra",
           reason=reason)


def _refused(message: str, status: int, detail: str = "") -> Any:
    """The sign-in page with what went wrong (and Microsoft's words, when it said some)."""
    text = translate(message) + (f" ({detail})" if detail else "")
    return render_template("admin/sign_in.html", error=text, email="",
                           entra=entra_configured()), status


class OtherTenantError(Exception):
    """The id token is from another tenant than the organization's."""

    def __init__(self, tenant: str, address: str) -> None:
        super().__init__(f"tenant {tenant} is not the organization's")
        #: whom the token names (for the audit of the refusal, hashed)
        self.address = address


def verified_claims(http: requests.Session, id_token: str) -> dict[str, Any]:
    """Check the id token as OpenID Connect asks: signed by a key the tenant publishes,
    for this app (``aud``), current, issued by the tenant the authority names.

    :raises OtherTenantError: the token's ``tid`` is another tenant's.
    :raises InvalidToken: any other check fails.
    """
    issuer, keys = _published(http)
    try:
        header = jwt.get_unverified_header(id_token)
        key = keys.get(str(header.get("kid")))
        if key is None or header.get("alg") not in ID_TOKEN_ALGORITHMS:
            raise InvalidToken("the id token is not signed by a key of the tenant")
        claims = jwt.decode(id_token, key.key, algorithms=ID_TOKEN_ALGORITHMS,
                            audience=current_app.config["CONSOLE_ENTRA_CLIENT_ID"],
                            leeway=60, options={"require": ["exp", "iat", "aud", "iss",
                                                            "tid", "oid"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    # The authority's own issuer names its tenant (by id, even when configured by domain).
    if str(claims["tid"]).lower() != urlsplit(issuer).path.strip("/").split("/")[0].lower():
        raise OtherTenantError(str(claims["tid"]), str(claims.get("preferred_username") or ""))
    if claims["iss"] != issuer:
        raise InvalidToken("issuer not accepted")
    return dict(claims)


def _published(http: requests.Session) -> tuple[str, dict[str, jwt.PyJWK]]:
    """The authority's issuer and signing keys (its OpenID metadata and JWKS)."""
    try:
        metadata = http.get(f"{_authority()}/v2.0/.well-known/openid-configuration",
                            timeout=HTTP_TIMEOUT).json()
        published = http.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT).json()
        keys = jwt.PyJWKSet.from_dict(published).keys
    except (requests.RequestException, ValueError, KeyError, jwt.PyJWTError) as exc:
        raise InvalidToken(f"the tenant's signing keys could not be read: {exc}") from exc
    return str(metadata.get("issuer", "")), {str(k.key_id): k for k in keys}


add_chinese({
    "This Microsoft sign-in was not started here or was already used: press Sign in with "
    "Microsoft again.":
        "此 Microsoft 登录不是从这里发起的或已被使用：请再次点击“使用 Microsoft 登录”。",
    "Microsoft did not sign you in: try again.": "Microsoft 未能让您登录：请重试。",
    "Microsoft's sign-in service could not be reached; try again, or sign in with your "
    "password.": "无法连接 Microsoft 登录服务；请重试，或使用密码登录。",
    "This Microsoft account belongs to another organization.": "此 Microsoft 帐户属于其他组织。",
    "Microsoft's answer could not be verified: try again.": "无法验证 Microsoft 的应答：请重试。",
    "Microsoft's answer names no user account.": "Microsoft 的应答中没有用户帐户。",
    "No crmsync user has this Microsoft account: ask an admin to add you (crmsync user add).":
        "没有 crmsync 用户使用此 Microsoft 帐户：请管理员添加您（crmsync user add）。",
    "Continue": "继续",
    "Opening Microsoft…": "正在打开 Microsoft…",
})
