"""The Graph double's browser sign-ins: the authorization code flow and admin consent.

Wire formats follow Microsoft's documentation:

- ``GET /{tenant}/oauth2/v2.0/authorize`` (https://learn.microsoft.com/entra/identity-
  platform/v2-oauth2-auth-code-flow): the double plays the person at the browser. They
  sign in as :attr:`SignInState.user` (set per test; by default the ``login_hint``'s
  user), or decline (:attr:`SignInState.declines`: ``error=access_denied``). Entra's
  pages send the browser back from Microsoft's own site after the person signs in, so the
  answer is a page that navigates to ``redirect_uri?code=...&state=...`` (a cross-site
  navigation, as in production: ``SameSite=Strict`` cookies stay behind);
- the token endpoint's ``authorization_code`` grant: the code is single-use and its
  ``redirect_uri`` must match, PKCE (``S256``) is checked, a confidential client proves
  itself; the answer carries access, refresh and id token (RS256, with the request's
  ``nonce`` and the user's ``tid``, ``oid``, ``preferred_username``; claims in
  https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference). A new
  interactive sign-in consents again: it lifts a :meth:`DirectoryState.revoke_user`;
- ``GET /{tenant}/discovery/v2.0/keys``, the JWKS the id tokens verify with;
- ``GET /{tenant}/v2.0/adminconsent`` (https://learn.microsoft.com/entra/identity-platform/
  v2-admin-consent): back to ``redirect_uri`` with ``admin_consent=True&tenant=...&scope=
  ...&state=...``, or, with :attr:`SignInState.consent_error`, ``admin_consent=True&error=
  ...&error_description=AADSTS65004...&state=...``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, request
from markupsafe import escape

from tests.fakes.graph_directory import issue_tokens, object_id_of

AUTHORIZATION_CODE_GRANT = "authorization_code"
CODE_SECONDS = 600


@dataclass
class BrowserUser:
    """Who signs in at the authorize page; ``None`` fields take the tenant's defaults."""

    address: str
    #: the user's tenant (``None``: the double's)
    tenant: str | None = None
    #: the user's object id (``None``: their mailbox's user id, else stable per address)
    object_id: str | None = None


@dataclass
class SignInState:
    """The switches of the browser sign-ins, and what they handed out."""

    #: who signs in at the authorize page (``None``: the request's ``login_hint``)
    user: BrowserUser | None = None
    #: the person declines at the authorize page
    declines: bool = False
    #: the admin consent answer's error (``None``: consent is granted)
    consent_error: str | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (tenant, client id) pairs an admin consented to
    consents: set[tuple[str, str]] = field(default_factory=set)
    #: authorize requests received (their query parameters)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)

    def reset(self) -> None:
        self.user, self.declines, self.consent_error = None, False, None
        self.authorize_requests.clear()


def _back(redirect_uri: str, params: dict[str, str]) -> str:
    """The page Entra shows after the person acted: it sends the browser back."""
    url = f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(params)}"
    return (f'<!doctype html><html><head><meta http-equiv="refresh" content="0; url='
            f'{escape(url)}"><title>Signing in</title></head><body><a href="{escape(url)}">'
            "Continue</a></body></html>")


def _error_page(code: str, message: str) -> tuple[str, int]:
    """Entra shows request errors (unknown app, no redirect URI) on its own page."""
    return f"<!doctype html><p>{code}: {escape(message)}</p>", 400


def install_signin(app: Flask, double: Any) -> None:
    from tests.fakes.graph_client_auth import client_refusal
    from tests.fakes.graph_server import _token_error

    state: SignInState = double.signin

    @app.get("/<tenant>/discovery/v2.0/keys")
    def keys(tenant: str):
        return jsonify(double.directory.jwks())

    @app.get("/<tenant>/oauth2/v2.0/authorize")
    def authorize(tenant: str):
        args = request.args.to_dict()
        state.authorize_requests.append(args)
        if args.get("client_id") not in double.clients:
            return _error_page("AADSTS700016", f"Application with identifier "
                               f"'{args.get('client_id')}' was not found in the directory.")
        if args.get("response_type") != "code" or not args.get("redirect_uri"):
            return _error_page("AADSTS900144", "The request body must contain the "
                               "parameters response_type=code and redirect_uri.")
        back = {"state": args["state"]} if "state" in args else {}
        if state.declines:
            return _back(args["redirect_uri"], {
                "error": "access_denied", **back, "error_description":
                "AADSTS65004: User declined to consent to access the app."})
        user = state.user or BrowserUser(args.get("login_hint", ""))
        if "@" not in user.address:
            return _error_page("AADSTS50058", "A silent sign-in request was sent but no "
                               "user is signed in.")
        code = secrets.token_urlsafe(32)
        state.codes[code] = {
            "client_id": args["client_id"], "redirect_uri": args["redirect_uri"],
            "scope": args.get("scope", ""), "challenge": args.get("code_challenge"),
            "address": user.address.lower(), "expires": time.time() + CODE_SECONDS,
            "identity": {"tid": user.tenant or double.tenant,
                         "oid": user.object_id or object_id_of(double, user.address.lower()),
                         **({"nonce": args["nonce"]} if "nonce" in args else {})}}
        return _back(args["redirect_uri"], {"code": code, **back, "session_state":
                                            secrets.token_hex(8)})

    def code_grant(tenant: str, form) -> Any:
        entry = state.codes.pop(form.get("code", ""), None)  # a code is used once
        if entry is None or entry["client_id"] != form.get("client_id") or \
                time.time() > entry["expires"]:
            return _token_error("invalid_grant", "AADSTS70008: The provided authorization "
                                "code or refresh token has expired due to inactivity.", 400)
        if form.get("redirect_uri") != entry["redirect_uri"]:
            return _token_error("invalid_grant", "AADSTS70000: The redirect URI does not "
                                "match the one the code was issued for.", 400)
        client = double.clients[entry["client_id"]]
        confidential = client["secret"] is not None or client["certificate"] is not None
        refusal = client_refusal(client, form, entry["client_id"],
                                 f"{double.base_url}/{tenant}/oauth2/v2.0/token")
        if confidential and refusal is not None:
            return _token_error("invalid_client", refusal, 401)
        if entry["challenge"] and _s256(form.get("code_verifier", "")) != entry["challenge"]:
            return _token_error("invalid_grant", "AADSTS501481: The Code_Verifier does not "
                                "match the code_challenge supplied in the authorization "
                                "request.", 400)
        double.directory.revoked_users.discard(entry["address"])  # signed in: consented again
        return issue_tokens(double, entry["client_id"], entry["address"], entry["scope"],
                            entry["identity"])

    double.delegated_grants[AUTHORIZATION_CODE_GRANT] = code_grant

    @app.get("/<tenant>/v2.0/adminconsent")
    def admin_consent(tenant: str):
        args = request.args.to_dict()
        if args.get("client_id") not in double.clients:
            return _error_page("AADSTS700016", f"Application with identifier "
                               f"'{args.get('client_id')}' was not found in the directory.")
        if not args.get("redirect_uri"):
            return _error_page("AADSTS900144", "The request body must contain the "
                               "parameter redirect_uri.")
        back = {"state": args["state"]} if "state" in args else {}
        if state.consent_error:
            return _back(args["redirect_uri"], {
                "admin_consent": "True", "error": state.consent_error, **back,
                "error_description": "AADSTS65004: The resource owner or authorization "
                "server denied the request."})
        state.consents.add((tenant, args["client_id"]))
        return _back(args["redirect_uri"], {
            "admin_consent": "True", "tenant": double.tenant, "scope": args.get("scope", ""),
            **back})


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
