"""SMTP submission (RFC 6409): how an IMAP mailbox sends mail.

IMAP only reads, so a mailbox reached over IMAP sends through its provider's
submission server, with settings stored next to the IMAP ones (``smtp_host``,
``smtp_port``, ``smtp_security``, ``smtp_auth``; the login is the mailbox's ``username`` and its
secret). ``smtp_auth`` is ``login`` (the default: a server that offers no AUTH is
refused, naming ``--smtp-auth none``, since sending unauthenticated where a login was
meant is how mail ends up relayed by the wrong server) or ``none`` (an internal relay
that takes mail from its network without a login).

:func:`submit` keeps the :class:`~crmsync.connectors.base.Sending` contract:
connecting, STARTTLS, AUTH and the envelope (MAIL FROM, RCPT TO) happen before the
point of no return, so a failure there raises
:class:`~crmsync.connectors.base.SendRefusedError`; from DATA on the server may hold
the mail, and any failure raises :class:`~crmsync.connectors.base.SendUnknownError`.
"""

from __future__ import annotations

import copy
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from crmsync.connectors.base import SendReceipt, SendRefusedError, SendUnknownError
from crmsync.connectors.network import SMTP_PORTS, NamedTLS, pin
from crmsync.errors import ConfigError

#: seconds for connecting and for every answer of the server
TIMEOUT = 30
#: ``smtp_auth``: log in with the mailbox's credentials, or send through a relay without
SMTP_AUTH_CHOICES = ("login", "none")


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how one mailbox submits mail.

    :param port: as stored; ``None`` means 465 for ``ssl``, else 587.
    :param security: ``ssl`` (implicit TLS), ``starttls`` (the default) or ``none``.
    :param username: AUTH LOGIN with this name and the mailbox's secret; no AUTH when empty.
    :param auth: ``login`` (AUTH required) or ``none`` (a relay: never log in).
    """

    host: str
    port: int | None
    security: str
    username: str
    auth: str = "login"

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> SmtpSettings | None:
        """Read the ``smtp_*`` keys of a mailbox's settings; ``None`` without ``smtp_host``."""
        host = options.get("smtp_host")
        if not host:
            return None
        return cls(host=str(host), port=options.get("smtp_port"),
                   security=options.get("smtp_security") or "starttls",
                   username=str(options.get("username") or ""),
                   auth=str(options.get("smtp_auth") or "login"))


def submission_port(port: int | None, security: str | None) -> int:
    """The port as given, else the one for its security (465 implicit TLS, else 587)."""
    return port or (465 if security == "ssl" else 587)


def submit(settings: SmtpSettings, password: str, message: EmailMessage,
           point_of_no_return: Callable[[], None] | None = None) -> SendReceipt:
    """Submit ``message``: the envelope from its From and To/Cc/Bcc, the body as it is.

    See `Sending.send` for ``point_of_no_return`` and the errors.
    """
    smtp = _connect(settings, password)
    try:
        _envelope(smtp, message)
        if point_of_no_return is not None:
            point_of_no_return()
        code, reply = smtp.data(_without_bcc(message).as_bytes())
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
    except (OSError, smtplib.SMTPException) as exc:
        raise SendUnknownError(str(exc)) from exc
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return SendReceipt(message["Message-ID"], f"{code} {reply.decode(errors='replace')}")


def _connect(settings: SmtpSettings, password: str) -> smtplib.SMTP:
    """Connect, secure and log in; nothing the server could deliver exists yet."""
    host = settings.host
    port = submission_port(settings.port, settings.security)
    try:
        address = pin(host, port, SMTP_PORTS)  # before any packet is sent
    except ConfigError as exc:
        raise SendRefusedError(f"SMTP {host}:{port}: {exc}") from exc
    # TLS verifies the certificate for the name, on the connection to the checked address
    context = NamedTLS(ssl.create_default_context(), host)
    smtp: smtplib.SMTP | None = None
    try:
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(address, port, timeout=TIMEOUT, context=context)
        else:
            smtp = smtplib.SMTP(address, port, timeout=TIMEOUT)
    except (OSError, smtplib.SMTPException) as exc:
        if smtp is not None:  # a refused login leaves the connection open
            smtp.close()
        raise SendRefusedError(f"SMTP {host}:{port}: {exc}") from exc
    try:
        if settings.security == "starttls":
            smtp.starttls(context=context)
        smtp.ehlo_or_helo_if_needed()  # (again) after STARTTLS, before AUTH or MAIL FROM
        if settings.auth != "none" and settings.username:
            _login(smtp, settings.username, password, f"{host}:{port}")
    except (OSError, smtplib.SMTPException, SendRefusedError) as exc:
        smtp.close()  # nothing was sent on it
        if isinstance(exc, SendRefusedError):
            raise
        raise SendRefusedError(f"SMTP {host}:{port}: {exc}") from exc
    return smtp


def _login(smtp: smtplib.SMTP, username: str, password: str, where: str) -> None:
    """AUTH with the mailbox's login; a server that offers none is refused, with the fix.

    smtplib's own "SMTP AUTH extension not supported by server" names no way out; a
    relay that takes no login is a setting (``smtp_auth = none``), never a guess.
    """
    if not (smtp.has_extn("auth") and smtp.esmtp_features.get("auth", "").strip()):
        raise SendRefusedError(
            f"SMTP {where} offers no login (no AUTH in its EHLO answer); if it is a relay "
            "that takes mail without a login, set the mailbox's SMTP login to none "
            "(crmsync mailbox add imap ... --smtp-auth none)")
    smtp.login(username, password)


def _envelope(smtp: smtplib.SMTP, message: EmailMessage) -> None:
    """MAIL FROM and one RCPT TO per recipient; a refusal leaves nothing with the server."""
    sender = _addresses(message, "From")
    recipients = _addresses(message, "To", "Cc", "Bcc")
    try:
        code, reply = smtp.mail(sender[0] if sender else "")
        if code != 250:
            raise SendRefusedError(f"sender refused: {code} {reply!r}")
        for recipient in recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                raise SendRefusedError(f"recipient refused: {code} {reply!r}")
    except (OSError, smtplib.SMTPException) as exc:
        raise SendRefusedError(f"SMTP envelope: {exc}") from exc


def _without_bcc(message: EmailMessage) -> EmailMessage:
    """The message as the recipients get it: a Bcc is in the envelope only."""
    if message["Bcc"] is None:
        return message
    shown = copy.deepcopy(message)
    del shown["Bcc"]
    return shown


def _addresses(message: EmailMessage, *fields: str) -> list[str]:
    """The bare addresses of ``fields`` (display names and groups dropped)."""
    values = [str(value) for name in fields for value in message.get_all(name, [])]
    return [address for _name, address in getaddresses(values) if address]
