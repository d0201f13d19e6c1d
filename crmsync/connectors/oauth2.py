"""OAuth 2.0 access tokens for XOAUTH2 logins, refreshed before they expire.

A mailbox's sealed secret is either the access token itself (static: used as given, it
stops working when it expires) or a refreshable credential, JSON::

    {"v": 1, "kind": "oauth2", "token_url": "https://oauth2.googleapis.com/token",
     "client_id": "...", "client_secret": "..." | null, "scope": "..." | null,
     "refresh_token": "...", "access_token": "..." | null, "expires_at": 1765000000}

    {"v": 1, "kind": "msal", "authority": "https://login.microsoftonline.com/<tenant>",
     "client_id": "...", "scopes": ["https://outlook.office.com/IMAP.AccessAsUser.All"],
     "cache": "<msal's serialized token cache>"}

``oauth2`` refreshes with the token endpoint's ``refresh_token`` grant (RFC 6749 6,
https://www.rfc-editor.org/rfc/rfc6749#section-6; client authentication in the body,
2.3.1); ``msal`` lets msal refresh from its cache (Microsoft's endpoints, as the Graph
delegated sign-in does). Either way a token is renewed :data:`REFRESH_MARGIN` seconds
before it expires, so a login never uses one about to lapse, and the renewed credential
(new access token, and the refresh token when the server rotated it) is handed back by
:meth:`RefreshableToken.updated` for the engine to seal again
(:meth:`~crmsync.connectors.base.Connector.updated_secret`).

The token endpoint is a URL someone typed, so it is held to the rule of every
connection a connector makes (:mod:`crmsync.connectors.network`): a public address, over
https, or an address in ``CRMSYNC_ALLOWED_PRIVATE_NETWORKS``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crmsync.connectors.network import pin
from crmsync.errors import AuthError, ConfigError, CrmSyncError, TransientError

VERSION = 1
#: renew a token this many seconds before it expires (a sync or an IDLE fits well within)
REFRESH_MARGIN = 300
#: token-endpoint errors that only a person can fix: sign in again (RFC 6749 5.2)
PERMANENT_ERRORS = frozenset({
    "invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope",
    "unsupported_grant_type", "consent_required", "interaction_required",
})
_HTTPS_PORTS = frozenset({443})

if TYPE_CHECKING:  # imported when a token is refreshed: every IMAP sync imports this module
    import requests


class StaticToken:
    """An access token used as given (``--auth xoauth2`` with a token, as before refresh)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self, force: bool = False) -> str:
        """Return the token (``force`` changes nothing: it cannot be renewed)."""
        return self._token

    def expires_soon(self) -> bool:
        """Return ``False``: nothing can be done about a static token's expiry."""
        return False

    def updated(self) -> str | None:
        """Return ``None``: a static token is never renewed."""
        return None


class RefreshableToken:
    """An access token renewed through a refresh token (see module docstring).

    :param credential: the parsed credential JSON.
    :param session: the HTTP session for the token endpoint (a proxy, a private CA);
        ``None`` opens one per refresh.
    :raises ConfigError: the credential lacks what its kind needs.
    """

    def __init__(self, credential: Mapping[str, Any],
                 session: requests.Session | None = None) -> None:
        self._credential = dict(credential)
        self._given_session = session
        self._lock = threading.Lock()
        self._changed = False
        self._renew: Callable[[], None]
        kind = self._credential.get("kind")
        if kind == "oauth2":
            _require(self._credential, "token_url", "client_id", "refresh_token")
            self._renew = self._refresh_oauth2
        elif kind == "msal":
            _require(self._credential, "authority", "client_id", "scopes", "cache")
            self._renew = self._refresh_msal
        else:
            raise ConfigError(f"unknown OAuth credential kind {kind!r}", ["kind: oauth2 or msal"])

    def access_token(self, force: bool = False) -> str:
        """Return an access token valid for :data:`REFRESH_MARGIN` seconds at least.

        :param force: renew it even so (the server refused it: revoked, or clocks skewed).
        :raises AuthError: the refresh was refused (revoked, expired, wrong client).
        :raises TransientError: the token endpoint could not be reached or failed.
        """
        with self._lock:
            if force or self.expires_soon():
                self._renew()
                self._changed = True
            return str(self._credential["access_token"])

    def expires_soon(self) -> bool:
        """Return whether the current access token lapses within :data:`REFRESH_MARGIN`."""
        expires_at = self._credential.get("expires_at")
        if not self._credential.get("access_token") or expires_at is None:
            return True
        return float(expires_at) - time.time() < REFRESH_MARGIN

    def updated(self) -> str | None:
        """Return the credential JSON if a refresh renewed it, else ``None``."""
        return dumps(self._credential) if self._changed else None

    # -- kinds ---------------------------------------------------------------------------

    def _refresh_oauth2(self) -> None:
        """POST the ``refresh_token`` grant (RFC 6749 6) and keep what comes back."""
        import requests

        credential = self._credential
        url = checked_token_url(str(credential["token_url"]))
        form = {"grant_type": "refresh_token", "refresh_token": credential["refresh_token"],
                "client_id": credential["client_id"]}
        if credential.get("client_secret"):
            form["client_secret"] = credential["client_secret"]
        if credential.get("scope"):
            form["scope"] = credential["scope"]
        started = time.time()
        try:
            with _http(self._given_session) as http:
                response = http.post(url, data=form, timeout=30,
                                     headers={"Accept": "application/json"})
            answer = response.json()
        except requests.RequestException as exc:
            raise TransientError(f"token endpoint unreachable: {exc}") from exc
        except ValueError as exc:
            raise TransientError(f"token endpoint answered HTTP {response.status_code} "
                                 "without JSON") from exc
        if not isinstance(answer, dict) or "access_token" not in answer:
            raise _refused(answer if isinstance(answer, dict) else {})
        credential["access_token"] = str(answer["access_token"])
        # expires_in counts from the answer; counting from the request errs on the safe side
        credential["expires_at"] = started + float(answer.get("expires_in") or 3600)
        if answer.get("refresh_token"):  # rotated: the old one may stop working now
            credential["refresh_token"] = str(answer["refresh_token"])

    def _refresh_msal(self) -> None:
        """Let msal refresh from its cache (it keeps the rotated refresh token there)."""
        import msal
        import requests

        credential = self._credential
        checked_token_url(str(credential["authority"]))
        cache = msal.SerializableTokenCache()
        try:
            cache.deserialize(str(credential["cache"]))
        except ValueError as exc:
            raise AuthError("the stored sign-in is unreadable; sign in again") from exc
        try:
            with _http(self._given_session) as http:
                app = _public_app(credential, cache, http)
                accounts = app.get_accounts()
                if not accounts:
                    raise AuthError("no signed-in account stored; sign in again")
                result = app.acquire_token_silent_with_error(
                    list(credential["scopes"]), accounts[0], force_refresh=True)
        except requests.RequestException as exc:
            raise TransientError(f"sign-in service unreachable: {exc}") from exc
        except ValueError as exc:  # msal's authority and discovery errors
            raise ConfigError(f"cannot use authority {credential['authority']}",
                              [str(exc)]) from exc
        if not result or "access_token" not in result:
            raise _refused(result or {"error": "interaction_required"})
        credential["access_token"] = str(result["access_token"])
        credential["expires_at"] = time.time() + float(result.get("expires_in") or 3600)
        credential["cache"] = cache.serialize()


Token = StaticToken | RefreshableToken


def token_source(secret: str, session: requests.Session | None = None) -> Token:
    """Return the token source a mailbox's secret describes (see module docstring).

    :raises ConfigError: it is refreshable JSON, but unusable.
    """
    if not secret.lstrip().startswith("{"):
        return StaticToken(secret)
    try:
        credential = json.loads(secret)
    except ValueError as exc:
        raise ConfigError("the OAuth credential is not valid JSON", [str(exc)]) from exc
    if not isinstance(credential, dict) or credential.get("v") != VERSION:
        raise ConfigError("the OAuth credential is not a version 1 object")
    return RefreshableToken(credential, session)


def refreshable_credential(token_url: str, client_id: str, refresh_token: str,
                           client_secret: str | None = None, scope: str | None = None) -> str:
    """Return the JSON of a new ``oauth2`` credential (no access token yet: the first
    login refreshes one).

    :raises ConfigError: the token endpoint is not allowed.
    """
    checked_token_url(token_url)
    return dumps({"v": VERSION, "kind": "oauth2", "token_url": token_url,
                  "client_id": client_id, "client_secret": client_secret, "scope": scope,
                  "refresh_token": refresh_token, "access_token": None, "expires_at": None})


#: what an IMAP/SMTP sign-in at Microsoft asks for (msal adds offline_access: the refresh)
MICROSOFT_SCOPES = ("https://outlook.office.com/IMAP.AccessAsUser.All",
                    "https://outlook.office.com/SMTP.Send")


def microsoft_sign_in(authority: str, client_id: str, scopes: Sequence[str],
                      show: Callable[[Mapping[str, Any]], None],
                      session: requests.Session | None = None) -> str:
    """Sign a user in with the device code flow; return the ``msal`` credential's JSON.

    :param authority: ``https://login.microsoftonline.com/<tenant>`` (or a national cloud's).
    :param show: receives msal's flow (``verification_uri``, ``user_code``, ``message``)
        to tell the user where to go; this then waits until the code is approved.
    :raises AuthError: the user declined, or the code expired.
    """
    import msal

    checked_token_url(authority)
    credential: dict[str, Any] = {"v": VERSION, "kind": "msal", "authority": authority,
                                  "client_id": client_id, "scopes": list(scopes)}
    cache = msal.SerializableTokenCache()
    with _http(session) as http:
        app = _public_app(credential, cache, http)
        flow = app.initiate_device_flow(scopes=list(scopes))
        if "user_code" not in flow:
            raise _refused(flow)
        show(flow)
        result = app.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        raise _refused(result)
    expires_at = time.time() + float(result.get("expires_in") or 3600)
    return dumps({**credential, "cache": cache.serialize(),
                  "access_token": result["access_token"], "expires_at": expires_at})


@contextmanager
def _http(given: requests.Session | None) -> Iterator[requests.Session]:
    """Yield the given HTTP session, or a new one closed afterwards."""
    if given is not None:
        yield given
        return
    import requests

    with requests.Session() as session:
        yield session


def _public_app(credential: Mapping[str, Any], cache: Any, http: requests.Session) -> Any:
    """Return msal's public client for the credential's authority, keeping ``cache``.

    Instance discovery (asking Microsoft whether the authority is one of its own) is
    left on for Microsoft's hosts, and off for any other (a test double, ADFS).
    """
    import msal

    authority = str(credential["authority"])
    known = urlsplit(authority).hostname in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS
    return msal.PublicClientApplication(
        str(credential["client_id"]), authority=authority, token_cache=cache,
        http_client=http, instance_discovery=None if known else False)


def checked_token_url(url: str) -> str:
    """Return ``url`` if crmsync may POST to it: https to a public address, or any
    scheme to an address in ``CRMSYNC_ALLOWED_PRIVATE_NETWORKS``.

    :raises ConfigError: it may not (the same words as every refused address).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"the token endpoint must be an https URL, not {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    # A private address is allowed (on any port, by any scheme) only where configured;
    # else only https on 443 to a public one, as mail servers only on mail ports.
    pin(parts.hostname, port, _HTTPS_PORTS if parts.scheme == "https" else frozenset())
    return url


def dumps(credential: Mapping[str, Any]) -> str:
    """Return the credential's JSON, compact and stable."""
    return json.dumps(dict(credential), separators=(",", ":"), sort_keys=True)


def _require(credential: Mapping[str, Any], *keys: str) -> None:
    missing = [key for key in keys if not credential.get(key)]
    if missing:
        raise ConfigError("the OAuth credential is incomplete",
                          [f"missing: {key}" for key in missing])


def _refused(answer: Mapping[str, Any]) -> CrmSyncError:
    """Return the error for a token answer without a token (RFC 6749 5.2)."""
    error = str(answer.get("error", "unknown_error"))
    description = str(answer.get("error_description", "")).splitlines()[:1]
    text = f"({error}){': ' + description[0][:300] if description else ''}"
    if error in PERMANENT_ERRORS:
        return AuthError(f"token refresh refused {text}; sign in again")
    return TransientError(f"token refresh failed {text}")
