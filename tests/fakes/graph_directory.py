"""The Graph double's delegated sign-in and directory: device code, refresh, groups.

Wire formats follow Microsoft's documentation:

- device code flow (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code):
  ``POST /{tenant}/oauth2/v2.0/devicecode`` answers ``device_code``, ``user_code``,
  ``verification_uri``, ``expires_in``, ``interval``, ``message``; the token endpoint's
  ``urn:ietf:params:oauth:grant-type:device_code`` grant answers ``authorization_pending``
  until the code is approved (:meth:`DirectoryState.approve_pending`, or the
  ``auto_approve`` switch), then tokens with ``refresh_token``, ``id_token`` and
  ``client_info``;
- the ``refresh_token`` grant; a revoked user (:meth:`DirectoryState.revoke_user`) gets
  ``invalid_grant`` and loses its access tokens;
- id tokens signed with RS256 by :attr:`DirectoryState.signing_key`, whose public half is
  the tenant's JWKS (``/{tenant}/discovery/v2.0/keys``, :mod:`tests.fakes.graph_signin`);
- ``GET /v1.0/groups?$filter=mail eq '...'`` and ``GET /v1.0/groups/{id}/members`` with
  ``@odata.nextLink`` paging.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: the ``kid`` of the double's id token signing key
SIGNING_KID = "double-key-1"


def _signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class DirectoryState:
    """Device codes, refresh tokens and groups of the fake tenant."""

    device_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: access token -> the signed-in user's address (delegated tokens only)
    token_users: dict[str, str] = field(default_factory=dict)
    revoked_users: set[str] = field(default_factory=set)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: switch: approve a pending device code as this user at its first poll
    auto_approve: str | None = None
    #: lifetime of delegated access tokens (short ones make every run refresh)
    access_seconds: int = 3599
    #: server-driven page size of /groups/{id}/members
    member_page_size: int = 2
    #: the tenant's id token signing key (:meth:`jwks` publishes its public half)
    signing_key: rsa.RSAPrivateKey = field(default_factory=_signing_key)

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key()))
        return {"keys": [{**jwk, "kid": SIGNING_KID, "use": "sig", "alg": "RS256"}]}

    def approve_pending(self, address: str) -> int:
        """Approve every pending device code as ``address`` (the user typed it in)."""
        pending = [c for c in self.device_codes.values() if c["user"] is None]
        for code in pending:
            code["user"] = address.lower()
        return len(pending)

    def revoke_user(self, double: Any, address: str) -> None:
        """Revoke a user's consent: refresh tokens get invalid_grant, access tokens die."""
        address = address.lower()
        self.revoked_users.add(address)
        with double.lock:
            for token, user in list(self.token_users.items()):
                if user == address:
                    double.tokens.pop(token, None)

    def add_group(self, double: Any, mail: str, members: list[dict[str, Any]]) -> str:
        """Add a mail-enabled group; ``members`` are directoryObjects as Graph lists them."""
        group_id = str(uuid.uuid4())
        self.groups[group_id] = {"id": group_id, "mail": mail.lower(), "displayName": mail,
                                 "mailEnabled": True, "members": list(members)}
        return group_id


def user_object(address: str | None, name: str, user_id: str | None = None) -> dict[str, Any]:
    """A ``#microsoft.graph.user`` member (``mail`` None for a user without a mailbox)."""
    return {"@odata.type": "#microsoft.graph.user", "id": user_id or str(uuid.uuid4()),
            "displayName": name, "mail": address,
            "userPrincipalName": address or f"{name.replace(' ', '.')}@northwind.example"}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def object_id_of(double: Any, address: str) -> str:
    """A user's Entra object id: their mailbox's user id, else one stable per address."""
    box = double.data.mailbox(address)
    return box.user_id if box else str(uuid.uuid5(uuid.NAMESPACE_URL, f"entra:{address}"))


def issue_tokens(double: Any, client_id: str, address: str, scope: str,
                 identity: dict[str, Any] | None = None) -> Any:
    """The token endpoint's answer to a user's grant: access, refresh and id token.

    :param identity: id token claims other than the defaults: ``tid`` (the double's
        tenant), ``oid`` (:func:`object_id_of`), ``nonce`` (the authorize request's).
    """
    state: DirectoryState = double.directory
    claims = {"tid": double.tenant, "oid": object_id_of(double, address), **(identity or {})}
    access = f"fake-user-{next(double._counter)}-{secrets.token_hex(8)}"
    refresh = f"rt-{secrets.token_hex(16)}"
    now = int(time.time())
    with double.lock:
        double.tokens[access] = client_id
        state.token_users[access] = address
    state.refresh_tokens[refresh] = {
        "client_id": client_id, "user": address, "scope": scope,
        "identity": {"tid": claims["tid"], "oid": claims["oid"]}}
    id_token = jwt.encode({
        "aud": client_id, "iss": f"{double.base_url}/{claims['tid']}/v2.0", "iat": now,
        "nbf": now, "exp": now + 3600, "name": address, "preferred_username": address,
        "sub": secrets.token_hex(8), "ver": "2.0", **claims},
        state.signing_key, algorithm="RS256", headers={"kid": SIGNING_KID})
    granted = " ".join(s for s in scope.split() if s not in ("openid", "profile"))
    return jsonify(token_type="Bearer", scope=granted, expires_in=state.access_seconds,
                   ext_expires_in=state.access_seconds, access_token=access,
                   refresh_token=refresh, id_token=id_token,
                   client_info=_b64({"uid": claims["oid"], "utid": claims["tid"]}))


def install_directory(app: Flask, double: Any) -> None:
    from tests.fakes.graph_server import _token_error, graph_error

    state: DirectoryState = double.directory

    @app.post("/<tenant>/oauth2/v2.0/devicecode")
    def device_code(tenant: str):
        client_id = request.form.get("client_id", "")
        if client_id not in double.clients:
            return _token_error("unauthorized_client", f"AADSTS700016: Application {client_id} "
                                "was not found in the directory.", 400)
        code = secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        state.device_codes[code] = {"user_code": user_code, "client_id": client_id,
                                    "scope": request.form.get("scope", ""), "user": None,
                                    "expires": time.time() + 900, "polls": 0}
        uri = "https://microsoft.com/devicelogin"
        return jsonify(device_code=code, user_code=user_code, verification_uri=uri,
                       expires_in=900, interval=1,
                       message=f"To sign in, use a web browser to open the page {uri} and "
                               f"enter the code {user_code} to authenticate.")

    def device_grant(tenant: str, form) -> Any:
        entry = state.device_codes.get(form.get("device_code", ""))
        if entry is None or entry["client_id"] != form.get("client_id"):
            return _token_error("bad_verification_code", "AADSTS70019: Verification code "
                                "not recognized.", 400)
        if time.time() > entry["expires"]:
            return _token_error("expired_token", "AADSTS70020: The provided value for the "
                                "input parameter 'device_code' is not valid.", 400)
        entry["polls"] += 1
        if entry["user"] is None:
            if state.auto_approve and entry["polls"] == 1:
                entry["user"] = state.auto_approve.lower()  # approved while we answer pending
            return _token_error("authorization_pending", "AADSTS70016: OAuth 2.0 device "
                                "flow error. Authorization is pending. Continue polling.", 400)
        state.device_codes.pop(form["device_code"])
        return issue_tokens(double, entry["client_id"], entry["user"], entry["scope"])

    def refresh_grant(tenant: str, form) -> Any:
        entry = state.refresh_tokens.get(form.get("refresh_token", ""))
        if entry is None or entry["client_id"] != form.get("client_id"):
            return _token_error("invalid_grant", "AADSTS9002313: Invalid request. Request "
                                "is malformed or invalid.", 400)
        if entry["user"] in state.revoked_users:
            return _token_error("invalid_grant", "AADSTS50173: The provided grant has expired "
                                "due to it being revoked, a fresh auth token is needed.", 400)
        return issue_tokens(double, entry["client_id"], entry["user"], entry["scope"],
                            entry.get("identity"))

    double.delegated_grants = {DEVICE_CODE_GRANT: device_grant, "refresh_token": refresh_grant}
    _install_groups(app, double, state, graph_error)


def _install_groups(app: Flask, double: Any, state: DirectoryState, graph_error) -> None:
    def denied() -> Any:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in double.tokens:
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        return None

    @app.get("/v1.0/groups")
    def list_groups():
        if (error := denied()) is not None:
            return error
        wanted = request.args.get("$filter", "")
        found = [g for g in state.groups.values()
                 if not wanted or wanted.lower() == f"mail eq '{g['mail']}'"]
        return jsonify({"@odata.context": f"{double.base_url}/v1.0/$metadata#groups",
                        "value": [{k: v for k, v in g.items() if k != "members"}
                                  for g in found]})

    @app.get("/v1.0/groups/<group_id>/members")
    def group_members(group_id: str):
        if (error := denied()) is not None:
            return error
        group = state.groups.get(group_id)
        if group is None:
            return graph_error(404, "Request_ResourceNotFound", f"Resource '{group_id}' does "
                               "not exist or one of its queried reference-property objects "
                               "are not present.")
        start = int(request.args.get("$skiptoken") or 0)
        size = min(int(request.args.get("$top") or 100), state.member_page_size)
        members = group["members"][start:start + size]
        body: dict[str, Any] = {
            "@odata.context": f"{double.base_url}/v1.0/$metadata#directoryObjects",
            "value": members}
        if start + size < len(group["members"]):
            body["@odata.nextLink"] = (f"{double.base_url}{request.path}?$top={size}"
                                       f"&$skiptoken={start + size}")
        return jsonify(body)
