"""How an outbox mail leaves: the support mailbox's own transport, chosen by its provider.

- IMAP mailboxes submit over SMTP with the settings stored on the connection;
- Microsoft 365 (``graph``) mailboxes send through Graph ``sendMail`` as the mailbox.

Every transport follows the same contract so that :mod:`.outbox` keeps one rule for
exactly-once delivery: everything that can fail without the server holding the mail
(connecting, signing in, the SMTP envelope) raises :class:`DeliveryError` *before*
``point_of_no_return`` is called; after it, a failure that may have left the mail with
the server raises :class:`DeliveryUnknownError` and the row is never resent. A clear
refusal after that point (Graph's 4xx, or 429 "not processed") is still a
:class:`DeliveryError`: the server said it did not take the mail.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Protocol

from crmsync.crm.models import Mailbox
from crmsync.crm.support import OutboxMessage
from crmsync.errors import AuthError, ConfigError, TransientError
from crmsync.sync_service.context import Services
from crmsync.sync_service.mailboxes.connecting import reseal_secret

if TYPE_CHECKING:  # the Graph client (and requests) load only when Graph mail is sent
    from crmsync.connectors.graph.connector import GraphConnector
    from crmsync.connectors.graph.send_mail import OutgoingMail

TIMEOUT = 30
#: Graph's "throttled, not processed": the only retry-later answer that proves nothing was sent
NOT_PROCESSED = 429


class DeliveryError(Exception):
    """The server did not take the mail (refused, or never reached): safe to retry."""


class DeliveryUnknownError(Exception):
    """The mail may have reached the server: never resend it automatically."""


class MailTransport(Protocol):
    """Send one outbox row; call ``point_of_no_return`` right before the server may hold it."""

    def send(self, row: OutboxMessage, point_of_no_return: Callable[[], None]) -> None: ...


def send_refusal(mailbox: Mailbox) -> str:
    """Why mail cannot be sent from ``mailbox`` (``""`` when it can), decided when queueing."""
    if mailbox.provider == "graph":
        return ""
    if not (mailbox.settings or {}).get("smtp_host"):
        return f"mailbox {mailbox.name} has no SMTP settings to send from"
    return ""


def transport_for(services: Services, mailbox: Mailbox) -> MailTransport:
    """Return the transport of the mailbox's provider (SMTP unless it is ``graph``)."""
    if mailbox.provider == "graph":
        return GraphTransport(services, mailbox)
    return SmtpTransport(services, mailbox)


def auto_submitted(row: OutboxMessage) -> str:
    """RFC 3834: an acknowledgement answers a mail; an alert is generated on its own."""
    return "auto-replied" if row.kind == "ack" else "auto-generated"


def build_message(row: OutboxMessage) -> EmailMessage:
    """Return the mail of an outbox row, marked as automatic (RFC 3834, Exchange)."""
    message = EmailMessage()
    message["From"] = row.from_address
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = row.message_id
    if row.in_reply_to:
        message["In-Reply-To"] = row.in_reply_to
        message["References"] = row.in_reply_to
    message["Auto-Submitted"] = auto_submitted(row)
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(row.body)
    return message


class SmtpTransport:
    """SMTP submission with the mailbox's stored settings; DATA is the point of no return."""

    def __init__(self, services: Services, mailbox: Mailbox) -> None:
        self.services, self.mailbox = services, mailbox

    def send(self, row: OutboxMessage, point_of_no_return: Callable[[], None]) -> None:
        mailbox = self.mailbox
        box = self.services.secret_box()
        password = box.open(mailbox.secret, mailbox.name) if mailbox.secret else ""
        message = build_message(row)
        smtp = _smtp_connect(mailbox, password)
        try:
            _envelope(smtp, row)
            point_of_no_return()
            code, reply = smtp.data(message.as_bytes())
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryUnknownError(str(exc)) from exc
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _smtp_connect(mailbox: Mailbox, password: str) -> smtplib.SMTP:
    settings = mailbox.settings or {}
    host, port = settings.get("smtp_host"), settings.get("smtp_port")
    if not host:
        raise DeliveryError(f"mailbox {mailbox.name} has no SMTP settings")
    security = settings.get("smtp_security") or "starttls"
    context = ssl.create_default_context()
    try:
        if security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port or 465, timeout=TIMEOUT,
                                                  context=context)
        else:
            smtp = smtplib.SMTP(host, port or 587, timeout=TIMEOUT)
            if security == "starttls":
                smtp.starttls(context=context)
        if settings.get("username"):
            smtp.login(settings["username"], password)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {host}:{port}: {exc}") from exc
    return smtp


def _envelope(smtp: smtplib.SMTP, row: OutboxMessage) -> None:
    try:
        code, reply = smtp.mail(row.from_address)
        if code != 250:
            raise DeliveryError(f"sender refused: {code} {reply!r}")
        code, reply = smtp.rcpt(row.to_address)
        if code not in (250, 251):
            raise DeliveryError(f"recipient refused: {code} {reply!r}")
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP envelope: {exc}") from exc


class GraphTransport:
    """Graph ``sendMail`` from the mailbox (MIME form, so the RFC 3834 headers survive).

    The POST is the point of no return. The client is built with ``max_retries=0`` so it
    never re-POSTs on its own after a 5xx that Exchange may have acted on; a 429 (not
    processed) goes back to ``pending`` and the next outbox round retries it.
    """

    def __init__(self, services: Services, mailbox: Mailbox) -> None:
        self.services, self.mailbox = services, mailbox

    def send(self, row: OutboxMessage, point_of_no_return: Callable[[], None]) -> None:
        connector = self._connect()
        try:
            try:  # sign in first: a refused or unreachable sign-in sends nothing
                connector.client.tokens.token(connector.settings.scope)
            except (AuthError, TransientError) as exc:
                raise DeliveryError(f"Graph sign-in: {exc}") from exc
            point_of_no_return()
            _post(connector, outgoing_mail(row))
        finally:
            reseal_secret(self.services, self.mailbox.id, self.mailbox.name, connector)
            connector.close()

    def _connect(self) -> GraphConnector:
        from crmsync.connectors.graph.connector import GraphConnector

        mailbox = self.mailbox
        box = self.services.secret_box()
        secret = box.open(mailbox.secret, mailbox.name) if mailbox.secret else ""
        try:
            return GraphConnector.from_settings({**mailbox.settings, "max_retries": 0}, secret)
        except ConfigError as exc:
            raise DeliveryError(f"mailbox {mailbox.name}: {exc}") from exc


def outgoing_mail(row: OutboxMessage) -> OutgoingMail:
    """The Graph form of an outbox row; it keeps the row's one Message-ID."""
    from crmsync.connectors.graph.send_mail import OutgoingMail

    return OutgoingMail(
        to=(row.to_address,), subject=row.subject, body=row.body,
        in_reply_to=row.in_reply_to or None, automatic=True,
        extra_headers={"Message-ID": row.message_id, "Auto-Submitted": auto_submitted(row),
                       "Date": format_datetime(datetime.now(UTC))},
    )


def _post(connector: GraphConnector, mail: OutgoingMail) -> None:
    from crmsync.connectors.graph.client import GraphError

    try:
        connector.send_mail(mail)
    except (AuthError, GraphError) as exc:  # a 4xx answer: Exchange did not take it
        raise DeliveryError(f"Graph sendMail refused: {exc}") from exc
    except TransientError as exc:
        if getattr(exc, "status", None) == NOT_PROCESSED:
            raise DeliveryError(f"Graph sendMail throttled: {exc}") from exc
        raise DeliveryUnknownError(f"Graph sendMail: {exc}") from exc
