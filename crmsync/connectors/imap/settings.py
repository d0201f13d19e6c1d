"""Configuration of one IMAP mailbox connection."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from crmsync.errors import ConfigError

Security = Literal["ssl", "starttls", "none"]
Auth = Literal["password", "xoauth2"]


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """Where and how to reach one IMAP mailbox.

    :param security: ``ssl`` (implicit TLS, port 993), ``starttls`` or ``none``.
    :param auth: ``password`` (LOGIN) or ``xoauth2`` (the secret is an access token, or
        a credential that renews one: :mod:`crmsync.connectors.oauth2`).
    :param folders: folders to sync; empty means Inbox and Sent, found by SPECIAL-USE
        or by name.
    :param since: first day of the backfill window of a first sync; ``None`` syncs
        everything. The engine computes the default window and passes it.
    :param batch_size: messages per ``UID FETCH`` and per :class:`Page`.
    :param backfill_window: a first sync goes newest first by windows of this many
        messages, each in UID order (see :meth:`ImapConnector._backfill`).
    :param timeout: socket timeout in seconds for connect and every read.
    :param ssl_context: TLS context (e.g. one trusting a private CA); ``None`` uses
        :func:`ssl.create_default_context`.
    :param max_message_bytes: larger messages are yielded as ``Unreadable``
        without fetching their bodies.
    :param max_text_bytes: at most this many bytes of the text part are fetched
        (a partial ``BODY.PEEK[n]<0.N>``); longer text is cut and marked.
    """

    host: str
    port: int
    security: Security
    username: str
    auth: Auth = "password"
    folders: tuple[str, ...] = ()
    since: date | None = None
    batch_size: int = 500
    backfill_window: int = 5000
    timeout: float = 60.0
    ssl_context: ssl.SSLContext | None = None
    max_message_bytes: int = 50 * 1024 * 1024
    max_text_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        if self.security not in ("ssl", "starttls", "none"):
            raise ValueError(f"security must be ssl, starttls or none, not {self.security!r}")
        if self.auth not in ("password", "xoauth2"):
            raise ValueError(f"auth must be password or xoauth2, not {self.auth!r}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.backfill_window < 1:
            raise ValueError("backfill_window must be at least 1")

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> ImapSettings:
        """Build settings from JSON-able options (``since`` as an ISO date).

        ``port`` defaults to 993 for ``ssl`` and 143 otherwise; ``ca_file`` names a PEM
        file of CA certificates to trust instead of the system's. Keys this class does
        not know are ignored (the stored mailbox row holds other things too).

        :raises ConfigError: a required option is missing or a value is invalid.
        """
        missing = [key for key in ("host", "username") if not options.get(key)]
        if missing:
            raise ConfigError("IMAP settings incomplete", [f"missing: {k}" for k in missing])
        security = options.get("security", "ssl")
        try:
            return cls(
                host=str(options["host"]),
                port=int(options.get("port") or (993 if security == "ssl" else 143)),
                security=security,
                username=str(options["username"]),
                auth=options.get("auth", "password"),
                folders=tuple(options.get("folders") or ()),
                since=date.fromisoformat(options["since"]) if options.get("since") else None,
                ssl_context=_context(options.get("ca_file")),
                **{k: _number(options[k]) for k in _NUMBERS if options.get(k) is not None},
            )
        except (ValueError, TypeError, OSError) as exc:
            raise ConfigError(f"invalid IMAP settings: {exc}", [str(exc)]) from exc


_NUMBERS = ("batch_size", "backfill_window", "timeout", "max_message_bytes", "max_text_bytes")


def _number(value: Any) -> Any:
    """Return ``value`` as int, or float when it has a fraction (``timeout``)."""
    number = float(value)
    return int(number) if number.is_integer() else number


def _context(ca_file: str | None) -> ssl.SSLContext | None:
    """Return a context trusting ``ca_file`` only, or ``None`` for the system default."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else None
