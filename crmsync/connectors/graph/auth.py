"""Tokens from Microsoft Entra ID through msal: app-only, or delegated (device code).

One app registration serves many mailboxes; msal caches the token in memory and
refreshes it before expiry. A refused grant (revoked consent, deleted secret,
``invalid_grant``) raises :class:`~crmsync.errors.AuthError`, which marks only the
mailbox being synced as needing re-authentication.
"""

from __future__ import annotations

import threading
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
        known = urlsplit(authority).hostname in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS
        try:
            self._app = msal.ConfidentialClientApplication(
                client_id, client_credential=credential, authority=authority,
                http_client=session, instance_discovery=None if known else False,
            )
        except ValueError as exc:  # msal's authority/OIDC discovery errors
            raise ConfigError(f"cannot use authority {authority}", [str(exc)]) from exc
        except requests.RequestException as exc:
            raise TransientError(f"sign-in service unreachable: {exc}") from exc

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
    """A msal public client (device code, refresh) keeping its tokens in ``cache``."""
    known = urlsplit(authority).hostname in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS
    try:
        return msal.PublicClientApplication(
            client_id, authority=authority, token_cache=cache, http_client=session,
            instance_discovery=None if known else False)
    except ValueError as exc:
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
