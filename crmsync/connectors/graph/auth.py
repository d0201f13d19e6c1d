"""Tokens from Microsoft Entra ID through msal: app-only, or delegated (device code, or
the authorization code flow in a browser).

One app registration serves many mailboxes; msal caches the token in memory and
refreshes it before expiry. A refused grant (revoked consent, deleted secret,
``invalid_grant``) raises :class:`~crmsync.errors.AuthError`, which marks only the
mailbox being synced as needing re-authentication.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crmsync.errors import AuthError, ConfigError, CrmSyncError, TransientError

#: msal errors that only a person can fix (re-consent, new secret)
PERMANENT_ERRORS = frozenset({
    "invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope",
    "consent_required", "interaction_required",
})


def certificate_credential(pem: str) -> dict[str, str]:
    """Turn a PEM holding a private key and its certificate into msal's credential.

    No thumbprint is handed over, so msal (1.35 and later) names the certificate by its
    SHA-256 thumbprint (``x5t#S256``) and signs with PS256, as Entra ID's current guidance
    asks; msal falls back to the SHA-1 ``x5t`` for AD FS only. The key is checked against
    the certificate here because a mismatch would otherwise surface only as Entra ID's
    refusal (AADSTS700027) at the first sync.
    https://learn.microsoft.com/entra/identity-platform/certificate-credentials

    :raises ConfigError: the PEM lacks the key or the certificate, the key is encrypted,
        or the key is not the certificate's.
    """
    data = pem.encode()
    try:
        cert = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:  # TypeError: the key is password-protected
        raise ConfigError("the certificate file must hold the private key (unencrypted) and "
                          "the certificate (PEM)", [str(exc)]) from exc
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise ConfigError("the private key in the certificate file is not the certificate's",
                          [f"certificate subject: {cert.subject.rfc4514_string()}"])
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return {
        "private_key": key_pem,
        "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
    }


def _public_der(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo))


class TokenSource:
    """Hand out access tokens for one app registration, refreshing them through msal."""

    def __init__(self, authority: str, client_id: str, credential: Any,
                 session: requests.Session) -> None:
        self._lock = threading.Lock()
        self._app = confidential_app(authority, client_id, credential, session)

    def token(self, scope: str, force_refresh: bool = False) -> str:
        """Return a valid access token for ``scope``.

        :raises AuthError: the grant was refused.
        :raises TransientError: the sign-in service could not be reached.
        """
        with self._lock:
            if force_refresh:  # Graph refused the cached token: drop it, ask again
                cache = self._app.token_cache
                for entry in cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN):
                    cache.remove_at(entry)
            try:
                result = self._app.acquire_token_for_client(scopes=[scope])
            except requests.RequestException as exc:
                raise TransientError(f"sign-in service unreachable: {exc}") from exc
        if "access_token" in result:
            return str(result["access_token"])
        error = str(result.get("error", "unknown_error"))
        description = str(result.get("error_description", "")).splitlines()[0][:300]
        if error in PERMANENT_ERRORS:
            raise AuthError(f"sign-in refused ({error}): {description}")
        raise TransientError(f"sign-in failed ({error}): {description}")


#: what a delegated (single-user) connection asks for; msal adds openid/profile/offline_access
DELEGATED_SCOPES = ("Mail.ReadWrite", "Mail.Send", "Calendars.ReadWrite", "Contacts.Read")


def delegated_scopes(graph_url: str) -> list[str]:
    """Graph's delegated permissions, qualified by the API host (national clouds differ)."""
    return [f"{graph_url.rstrip('/')}/{name}" for name in DELEGATED_SCOPES]


def public_app(authority: str, client_id: str, cache: msal.SerializableTokenCache,
               session: requests.Session) -> msal.PublicClientApplication:
    """A msal public client (device code, browser sign-in, refresh) keeping its tokens
    in ``cache``."""
    return _msal_app(msal.PublicClientApplication, authority, client_id, session,
                     token_cache=cache)


def confidential_app(authority: str, client_id: str, credential: Any,
                     session: requests.Session) -> msal.ConfidentialClientApplication:
    """A msal confidential client (app-only tokens, or a web app's sign-in) proving
    itself with ``credential`` (a secret, or :func:`certificate_credential`'s dict)."""
    return _msal_app(msal.ConfidentialClientApplication, authority, client_id, session,
                     client_credential=credential)


def _msal_app(cls: Any, authority: str, client_id: str, session: requests.Session,
              **options: Any) -> Any:
    """Build a msal application; msal reads the authority's OpenID metadata now.

    Instance discovery (asking Microsoft which hosts are its clouds) is kept for
    Microsoft's own hosts and turned off for others (national clouds given by URL, test
    doubles), which it would refuse.

    :raises ConfigError: the authority is not a sign-in service msal can use.
    :raises TransientError: the sign-in service could not be reached.
    """
    known = urlsplit(authority).hostname in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS
    try:
        return cls(client_id, authority=authority, http_client=session,
                   instance_discovery=None if known else False, **options)
    except ValueError as exc:  # msal's authority/OIDC discovery errors
        raise ConfigError(f"cannot use authority {authority}", [str(exc)]) from exc
    except requests.RequestException as exc:
        raise TransientError(f"sign-in service unreachable: {exc}") from exc


def _refused(result: dict[str, Any]) -> CrmSyncError:
    error = str(result.get("error", "unknown_error"))
    description = str(result.get("error_description", "")).splitlines()[0][:300]
    if error in PERMANENT_ERRORS or error in DEVICE_FLOW_ENDINGS:
        return AuthError(f"sign-in refused ({error}): {description}")
    return TransientError(f"sign-in failed ({error}): {description}")


#: device-code answers that end the sign-in (the user declined, or waited too long)
DEVICE_FLOW_ENDINGS = frozenset({
    "authorization_declined", "expired_token", "bad_verification_code",
})


class DelegatedTokenSource:
    """Access tokens for one signed-in user, from a msal token cache stored per mailbox.

    The cache (JSON, sealed in the mailbox's ``secret`` column) holds the refresh token;
    each run acquires silently, which refreshes the access token when it is near expiry
    (Entra ID may rotate the refresh token then). :meth:`updated_cache` hands the new
    cache back so the engine can store it again.
    """

    def __init__(self, authority: str, client_id: str, cache_json: str,
                 session: requests.Session) -> None:
        self._lock = threading.Lock()
        self._cache = msal.SerializableTokenCache()
        try:
            self._cache.deserialize(cache_json)
        except ValueError as exc:
            raise AuthError("the stored sign-in is unreadable; sign in again") from exc
        self._app = public_app(authority, client_id, self._cache, session)

    def token(self, scope: str, force_refresh: bool = False) -> str:
        """Return an access token, refreshing it through the stored refresh token.

        ``scope`` is the app-only ``/.default`` scope; the delegated scopes are derived
        from its host.

        :raises AuthError: no signed-in account, or the refresh was refused (``invalid_grant``).
        """
        scopes = delegated_scopes(scope.removesuffix("/.default"))
        with self._lock:
            accounts = self._app.get_accounts()
            if not accounts:
                raise AuthError("no signed-in account stored; sign in again (device code)")
            try:
                result = self._app.acquire_token_silent_with_error(
                    scopes, accounts[0], force_refresh=force_refresh)
            except requests.RequestException as exc:
                raise TransientError(f"sign-in service unreachable: {exc}") from exc
        if result and "access_token" in result:
            return str(result["access_token"])
        raise _refused(result or {"error": "interaction_required",
                                  "error_description": "the stored sign-in has expired"})

    def updated_cache(self) -> str | None:
        """The serialized cache if this run changed it (new tokens), else None."""
        return self._cache.serialize() if self._cache.has_state_changed else None


def device_sign_in(authority: str, client_id: str, graph_url: str, session: requests.Session,
                   show: Any) -> str:
    """Sign a user in with the device code flow and return the msal cache to store.

    ``show`` receives msal's flow (``verification_uri``, ``user_code``, ``message``) so
    the caller can tell the user where to go; this then waits until the code is approved.

    :raises AuthError: the user declined, or the code expired.
    """
    cache = msal.SerializableTokenCache()
    app = public_app(authority, client_id, cache, session)
    flow = app.initiate_device_flow(scopes=delegated_scopes(graph_url))
    if "user_code" not in flow:
        raise _refused(flow)
    show(flow)
    result = app.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        raise _refused(result)
    return cache.serialize()


# -- the authorization code flow (a browser; https://learn.microsoft.com/entra/identity-
# platform/v2-oauth2-auth-code-flow): msal adds PKCE, state and the OpenID nonce ------------


def start_auth_code_flow(app: Any, scopes: list[str], redirect_uri: str,
                         login_hint: str | None = None) -> dict[str, Any]:
    """Begin a browser sign-in: msal's flow, whose ``auth_uri`` the browser opens.

    The caller keeps the rest of the flow (state, nonce, PKCE verifier) for the return.
    The code comes back in the query, not by ``form_post`` as msal suggests: a form posted
    from Microsoft's site carries neither a ``SameSite=Strict`` session cookie nor a CSRF
    token. A code in the query is single-use, short-lived and worthless without the PKCE
    verifier kept by the caller (RFC 9700, 4.3.1); pages should send no ``Referer``.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "response_mode='form_post' is recommended",
                                UserWarning)
        return dict(app.initiate_auth_code_flow(scopes, redirect_uri=redirect_uri,
                                                login_hint=login_hint, response_mode="query"))


def finish_auth_code_flow(app: Any, flow: dict[str, Any],
                          response: dict[str, str]) -> dict[str, Any]:
    """Redeem the code the browser brought back; return msal's result (tokens and the
    ``id_token_claims``).

    msal checks that ``state`` and the id token's ``nonce`` are the flow's own and sends
    the PKCE verifier; it does not check the id token's other claims (msal 1.38+).

    :raises AuthError: the user or the tenant refused, or the answer is not this flow's.
    :raises TransientError: the sign-in service could not be reached.
    """
    try:
        result = app.acquire_token_by_auth_code_flow(flow, response)
    except (ValueError, RuntimeError) as exc:  # msal: state or nonce mismatch
        raise AuthError(f"the sign-in answer does not belong to this sign-in ({exc})") from exc
    except requests.RequestException as exc:
        raise TransientError(f"sign-in service unreachable: {exc}") from exc
    if "error" in result:  # the user declined, or the code was refused: sign in again
        description = (str(result.get("error_description") or "").splitlines() or [""])[0]
        raise AuthError(f"sign-in refused ({result['error']}): {description[:300]}")
    return dict(result)


def browser_sign_in_start(authority: str, client_id: str, graph_url: str,
                          redirect_uri: str, session: requests.Session,
                          login_hint: str | None = None) -> dict[str, Any]:
    """Begin signing a mailbox's user in again in a browser (delegated, public client).

    The app registration stays a public client, as for the device code: the return URL is
    registered under "Mobile and desktop applications", and PKCE stands in for a secret.
    """
    app = public_app(authority, client_id, msal.SerializableTokenCache(), session)
    return start_auth_code_flow(app, delegated_scopes(graph_url), redirect_uri, login_hint)


def browser_sign_in_finish(authority: str, client_id: str, flow: dict[str, Any],
                           response: dict[str, str],
                           session: requests.Session) -> tuple[str, dict[str, Any]]:
    """Finish :func:`browser_sign_in_start`: the msal cache to store (as
    :func:`device_sign_in` returns it) and who signed in (the id token's claims).

    :raises AuthError: refused, or not this flow's answer.
    """
    cache = msal.SerializableTokenCache()
    app = public_app(authority, client_id, cache, session)
    result = finish_auth_code_flow(app, flow, response)
    return cache.serialize(), dict(result.get("id_token_claims") or {})
