"""Send a mail from the mailbox: ``POST /users/{id}/sendMail``.

https://learn.microsoft.com/graph/api/user-sendmail

Automatic mail (case acknowledgements) must carry ``Auto-Submitted: auto-replied``
(RFC 3834) and ``X-Auto-Response-Suppress: All``. Graph's JSON form accepts only
``X-`` names in ``internetMessageHeaders``, so automatic mail is sent in the MIME
form (base64 MIME body, ``Content-Type: text/plain``), which keeps every header;
ordinary mail uses the JSON form. A mail built elsewhere as MIME (the support outbox's,
through :meth:`GraphConnector.send`) goes in the MIME form as it is.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from crmsync.connectors.graph.client import GraphClient, checked_json


@dataclass(frozen=True)
class OutgoingMail:
    """A text mail to send; ``automatic`` adds the loop-protection headers."""

    to: Sequence[str]
    subject: str
    body: str
    cc: Sequence[str] = ()
    in_reply_to: str | None = None
    automatic: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        headers = dict(self.extra_headers)
        if self.automatic:
            headers.setdefault("Auto-Submitted", "auto-replied")
            headers.setdefault("X-Auto-Response-Suppress", "All")
        if self.in_reply_to:
            headers.setdefault("In-Reply-To", self.in_reply_to)
            headers.setdefault("References", self.in_reply_to)
        return headers


def _recipients(addresses: Sequence[str]) -> list[dict[str, dict[str, str]]]:
    return [{"emailAddress": {"address": address}} for address in addresses]


def json_payload(mail: OutgoingMail) -> dict:
    """Build the JSON ``sendMail`` body (only ``X-`` headers allowed there)."""
    message: dict = {
        "subject": mail.subject,
        "body": {"contentType": "Text", "content": mail.body},
        "toRecipients": _recipients(mail.to),
    }
    if mail.cc:
        message["ccRecipients"] = _recipients(mail.cc)
    extra = {k: v for k, v in mail.headers().items() if k.lower().startswith("x-")}
    if extra:
        message["internetMessageHeaders"] = [{"name": k, "value": v} for k, v in extra.items()]
    return {"message": message, "saveToSentItems": True}


def mime_payload(mail: OutgoingMail, sender: str) -> bytes:
    """Build the base64 MIME ``sendMail`` body, which keeps every header."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(mail.to)
    if mail.cc:
        message["Cc"] = ", ".join(mail.cc)
    message["Subject"] = mail.subject
    for name, value in mail.headers().items():
        message[name] = value
    message.set_content(mail.body)
    return base64.b64encode(message.as_bytes())


def send_mail(client: GraphClient, mail: OutgoingMail) -> None:
    """Send ``mail`` from the client's mailbox.

    :raises GraphError: Graph refused the message.
    """
    non_x = any(not k.lower().startswith("x-") for k in mail.headers())
    if non_x:
        post_mime(client, mime_payload(mail, client.settings.address))
        return
    response = client.request("POST", _path(client), json=json_payload(mail))
    if response.status_code != 202:
        checked_json(response)


def send_message(client: GraphClient, message: EmailMessage) -> int:
    """Send a MIME ``message`` from the client's mailbox, every header kept.

    Graph sends as the signed-in mailbox, so its address replaces the From (another
    address would need "Send As" rights the app is not given).

    :returns: Graph's status (202).
    :raises GraphError: Graph refused the message.
    """
    outgoing = copy.deepcopy(message)
    if outgoing["From"] is None:
        outgoing["From"] = client.settings.address
    else:
        outgoing.replace_header("From", client.settings.address)
    return post_mime(client, base64.b64encode(outgoing.as_bytes()))


def post_mime(client: GraphClient, payload: bytes) -> int:
    """POST a base64 MIME body to ``sendMail``; return Graph's status.

    :raises GraphError: Graph refused the message.
    """
    response = client.request("POST", _path(client), data=payload, content_type="text/plain")
    if response.status_code != 202:
        checked_json(response)
    return response.status_code


def _path(client: GraphClient) -> str:
    return f"/users/{client.settings.address}/sendMail"
