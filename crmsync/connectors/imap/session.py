"""Open an IMAP session (TLS, LOGIN or XOAUTH2, ENABLE) and translate its errors.

LOGIN/AUTHENTICATE: RFC 3501 6.2.3 and 6.2.2, XOAUTH2:
https://developers.google.com/gmail/imap/xoauth2-protocol; ENABLE CONDSTORE and
QRESYNC: RFC 7162 3.1 and 3.2.3 (https://www.rfc-editor.org/rfc/rfc7162#section-3.2.3).
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from crmsync.connectors.imap.response import FastFetchClient
from crmsync.connectors.imap.settings import ImapSettings
from crmsync.connectors.network import IMAP_PORTS, NamedTLS, pin
from crmsync.errors import AuthError, TransientError, UserError


class ConnectionLostError(TransientError):
    """The connection broke; the session must be thrown away and opened again."""


@contextmanager
def translated_errors(settings: ImapSettings, doing: str) -> Iterator[None]:
    """Turn imapclient and socket errors into crmsync's errors.

    Refused credentials become :class:`AuthError`; a broken connection, a timeout or
    an aborted session :class:`ConnectionLostError`; a ``NO``/``BAD`` answer a
    :class:`TransientError` (servers say NO when busy or over quota).
    """
    where = f"IMAP {settings.username}@{settings.host}:{settings.port}"
    try:
        yield
    except LoginError as exc:
        raise AuthError(f"{where}: the server refused the login: {exc}") from exc
    except (IMAPClientAbortError, OSError, EOFError) as exc:
        # ssl.SSLError and socket.timeout are OSErrors too.
        raise ConnectionLostError(f"{where}: {doing}: {type(exc).__name__}: {exc}") from exc
    except IMAPClientError as exc:
        raise TransientError(f"{where}: {doing}: {exc}") from exc


def open_session(settings: ImapSettings, secret: str) -> FastFetchClient:
    """Connect, secure, log in and enable QRESYNC, else CONDSTORE, when offered.

    :param secret: the password, or the OAuth2 access token for ``xoauth2``.
    :raises AuthError: the credentials were refused.
    :raises TransientError: the server could not be reached or broke off.
    """
    address = pin(settings.host, settings.port, IMAP_PORTS)  # before any packet is sent
    context = settings.ssl_context or (
        _default_context() if settings.security != "none" else None
    )
    # TLS verifies the certificate for the name, on the connection to the checked address
    named = NamedTLS(context, settings.host) if context is not None else None
    with translated_errors(settings, "connect"):
        # imapclient's session; only its FETCH answers are parsed by crmsync's faster parser
        client = FastFetchClient(
            address,
            settings.port,
            ssl=settings.security == "ssl",
            ssl_context=named,
            timeout=settings.timeout,
        )
    try:
        with translated_errors(settings, "log in"):
            if settings.security == "starttls":
                client.starttls(named)
            if settings.auth == "xoauth2":
                client.oauth2_login(settings.username, secret)
            else:
                client.login(settings.username, secret)
            # Aware datetimes: INTERNALDATE is turned into UTC, not the host's zone.
            client.normalise_times = False
            _enable_extensions(client)
    except BaseException:
        _close_quietly(client)
        raise
    return client


def _enable_extensions(client: FastFetchClient) -> None:
    """ENABLE QRESYNC (which implies CONDSTORE), else CONDSTORE, when the server offers it.

    CONDSTORE makes SELECT report HIGHESTMODSEQ (Dovecot only sends it once enabled);
    QRESYNC lets SELECT report expunges and flag changes itself (:mod:`.qresync`), and
    must be enabled before SELECT may carry its parameters (RFC 7162 3.2.3).
    """
    wanted = [name for name in ("QRESYNC", "CONDSTORE") if client.has_capability(name)]
    if wanted:
        client.enabled = frozenset(client.enable(*wanted))


@functools.cache
def _default_context() -> ssl.SSLContext:
    """Return the system's verifying TLS context, made once per process.

    Loading the CA store takes ~25 ms: more than a whole no-change poll's IMAP work.
    """
    return ssl.create_default_context()


def _close_quietly(client: IMAPClient) -> None:
    """Drop a connection we are abandoning; errors while closing do not matter."""
    try:
        client.shutdown()
    except (OSError, IMAPClientError):
        pass


def close_session(client: IMAPClient) -> None:
    """LOGOUT, or just drop the socket when the connection is already broken."""
    try:
        client.logout()
    except (OSError, IMAPClientError):
        _close_quietly(client)


@dataclass(frozen=True, slots=True)
class FolderState:
    """What SELECT (EXAMINE) told about a folder."""

    uidvalidity: int
    uidnext: int
    exists: int
    highestmodseq: int | None


def examine(client: IMAPClient, folder: str) -> FolderState:
    """SELECT ``folder`` read-only (EXAMINE) and return its state.

    :raises UserError: the folder does not exist (or cannot be selected).
    """
    with folder_errors(folder):
        response = client.select_folder(folder, readonly=True)
    return folder_state(response)


@contextmanager
def folder_errors(folder: str) -> Iterator[None]:
    """Turn a refused SELECT into :class:`UserError`; a broken connection stays what it is."""
    try:
        yield
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        raise UserError(f"cannot open IMAP folder {folder!r}: {exc}", [str(exc)]) from exc


def folder_state(response: Mapping[bytes, Any]) -> FolderState:
    """Return the :class:`FolderState` of imapclient's parsed SELECT answer."""
    modseq = response.get(b"HIGHESTMODSEQ")
    return FolderState(
        uidvalidity=int(response[b"UIDVALIDITY"]),
        uidnext=int(response.get(b"UIDNEXT") or 1),
        exists=int(response[b"EXISTS"]),
        # NOMODSEQ folders (RFC 7162 3.1.2.2) report no HIGHESTMODSEQ: treated as no CONDSTORE.
        highestmodseq=None if modseq is None else int(modseq),
    )
