"""How an outbox mail leaves: through the support mailbox's own connector.

The mail is built here, once, from the outbox row (with its one Message-ID and the
RFC 3834 headers); sending it is the connector's
:class:`~crmsync.connectors.base.Sending` capability (SMTP submission for IMAP
mailboxes, Graph ``sendMail`` for Microsoft 365), which keeps the contract
:mod:`.outbox`'s exactly-once rule rests on: everything that can fail without the
server holding the mail raises :class:`~crmsync.connectors.base.SendRefusedError`
*before* ``point_of_no_return`` is called; after it, a failure that may have left the
mail with the server raises :class:`~crmsync.connectors.base.SendUnknownError`, and the
row is never resent. A clear refusal after that point (Graph's 4xx, or 429 "not
processed") is still a refusal: the server said it did not take the mail.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from crmsync.connectors.base import Connector, Sending, SendReceipt
from crmsync.connectors.registry import load_connector_class
from crmsync.connectors.sms_gateway import SmsGateway
from crmsync.crm.models import Mailbox
from crmsync.crm.support import OutboxMessage
from crmsync.errors import ConfigError
from crmsync.sync_service.context import Services
from crmsync.sync_service.mailboxes.connecting import build_connector, reseal_secret


class DeliveryError(Exception):
    """Not delivered, and nothing reached the server: safe to retry.

    Raised by the outbox itself (no mailbox, a mailbox that cannot send, a webhook
    POST that failed); a connector's refusal is its
    :class:`~crmsync.connectors.base.SendRefusedError`, treated the same.
    """


def send_refusal(mailbox: Mailbox) -> str:
    """Why mail cannot be sent from ``mailbox`` (``""`` when it can), decided when queueing.

    Asks the class of the mailbox's connector, with the stored settings: nothing is
    opened or connected.
    """
    try:
        connector_class = load_connector_class(mailbox.provider)
    except ConfigError as exc:
        return f"mailbox {mailbox.name}: {exc}"
    if not issubclass(connector_class, Sending):
        return f"mailbox {mailbox.name} cannot send mail ({mailbox.provider})"
    problem = connector_class.send_settings_problem(mailbox.settings or {})
    return f"mailbox {mailbox.name} {problem}" if problem else ""


def send_row(services: Services, mailbox: Mailbox, row: OutboxMessage,
             point_of_no_return: Callable[[], None]) -> SendReceipt:
    """Send an outbox row through the mailbox's connector (see the module docstring).

    :raises DeliveryError: the mailbox cannot send (its settings, its provider).
    :raises SendRefusedError: nothing was sent.
    :raises SendUnknownError: the mail may have been sent.
    """
    refusal = send_refusal(mailbox)
    if refusal:
        raise DeliveryError(refusal)
    connector = _connect(services, mailbox)
    try:
        # send_refusal asked the class; this narrows the type (and checks a factory
        # whose from_settings returns another class)
        if not isinstance(connector, Sending):
            raise DeliveryError(f"mailbox {mailbox.name} cannot send mail ({mailbox.provider})")
        return connector.send(build_message(row), point_of_no_return)
    finally:
        # a delegated Graph sign-in may have renewed its token cache
        reseal_secret(services, mailbox.id, mailbox.name, connector)
        connector.close()


def sms_gateway(services: Services) -> SmsGateway:
    """The configured SMS gateway (``CRMSYNC_SMS_GATEWAY_URL``, its token from the variable
    ``CRMSYNC_SMS_GATEWAY_TOKEN_ENV`` names, read at each send and never stored).

    :raises DeliveryError: none is configured, or its token variable is unset.
    """
    url = str(services.config.get("SMS_GATEWAY_URL") or "")
    if not url:
        raise DeliveryError("no SMS gateway is configured (CRMSYNC_SMS_GATEWAY_URL)")
    token_env = str(services.config.get("SMS_GATEWAY_TOKEN_ENV") or "")
    token = os.environ.get(token_env, "") if token_env else ""
    if token_env and not token:
        raise DeliveryError(f"the SMS gateway's token variable {token_env} is not set")
    return SmsGateway(url, token)


def _connect(services: Services, mailbox: Mailbox) -> Connector:
    try:
        return build_connector(services, mailbox)
    except ConfigError as exc:
        raise DeliveryError(f"mailbox {mailbox.name}: {exc}") from exc


def auto_submitted(row: OutboxMessage) -> str:
    """RFC 3834: an acknowledgement answers a mail; an alert is generated on its own."""
    return "auto-replied" if row.kind == "ack" else "auto-generated"


def build_message(row: OutboxMessage) -> EmailMessage:
    """Return the mail of an outbox row; automatic ones marked so (RFC 3834, Exchange).

    An agent's reply (kind ``reply``) is a person's mail: no automatic marks, so the
    customer's own autoresponder may answer it and intake counts it as a response.
    ``in_reply_to`` holds the chain of ids answered, the one answered last.
    """
    message = EmailMessage()
    message["From"] = row.from_address
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = row.message_id
    chain = row.in_reply_to.split()
    if chain:
        message["In-Reply-To"] = chain[-1]
        message["References"] = " ".join(chain)
    if row.kind != "reply":
        message["Auto-Submitted"] = auto_submitted(row)
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(row.body)
    return message
