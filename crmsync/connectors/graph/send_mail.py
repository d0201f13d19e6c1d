"""Send a mail from the mailbox: ``POST /users/{id}/sendMail``.

https://learn.microsoft.com/graph/api/user-sendmail

Automatic mail (case acknowledgements) must carry ``Auto-Submitted: auto-replied``
(RFC 3834) and ``X-Auto-Response-Suppress: All``. Graph's JSON form accepts only
``X-`` names in ``internetMessageHeaders``, so automatic mail is sent in the MIME
form (base64 MIME body, ``Content-Type: text/plain``), which keeps every header;
ordinary mail uses the JSON form.
"""

from __future__ import annotations

import base64
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
    path = f"/users/{client.settings.address}/sendMail"
    non_x = any(not k.lower().startswith("x-") for k in mail.headers())
    if non_x:
        response = client.request("POST", path, data=mime_payload(mail, client.settings.address),
                                  content_type="text/plain")
    else:
        response = client.request("POST", path, json=json_payload(mail))
    if response.status_code != 202:
        checked_json(response)
