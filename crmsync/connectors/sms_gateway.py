"""Text messages through an HTTP SMS gateway: one JSON POST per message.

The gateway is the organization's (an aggregator's REST endpoint, or an in-house
bridge to one): ``POST <url>`` with ``{"to": "+4915112345678", "text": "...",
"reference": "<outbox key>"}``, ``Authorization: Bearer <token>`` when a token is set
and ``Idempotency-Key: <outbox key>``, so a gateway that deduplicates never texts twice
for one retried request. Any 2xx is taken as accepted.

The :class:`~crmsync.connectors.base.Sending` split holds here too: a connection that
could not be made sent nothing (:class:`~crmsync.connectors.base.SendRefusedError`,
retried), and so did a request the gateway answered with an error status (it did not
take the message; the retry carries the same key); ``point_of_no_return`` is called just
before the request goes out, and a failure after it that leaves no answer (a timeout, a
dropped connection) may have texted someone: :class:`~crmsync.connectors.base.
SendUnknownError`, never resent.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from crmsync.connectors.base import SendRefusedError, SendUnknownError

#: seconds for connecting and for the gateway's answer
TIMEOUT = 30


@dataclass(frozen=True, slots=True)
class SmsGateway:
    """Where text messages go; ``token`` is sent as a bearer token (never logged)."""

    url: str
    token: str = ""

    def send(self, to: str, text: str, reference: str,
             point_of_no_return: Callable[[], None] | None = None) -> str:
        """Hand one text message to the gateway; return its answer (for the log).

        :param reference: the idempotency key (the outbox row's key).
        :raises SendRefusedError: nothing was sent; sending again is safe.
        :raises SendUnknownError: it may have been sent.
        """
        if not self.url.startswith(("http://", "https://")):
            raise SendRefusedError(f"SMS gateway URL must be http(s): {self.url!r}")
        headers = {"Content-Type": "application/json", "Idempotency-Key": reference}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps({"to": to, "text": text, "reference": reference}).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
        if point_of_no_return is not None:
            point_of_no_return()
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                return f"{response.status} {response.read(500).decode(errors='replace')}"
        except urllib.error.HTTPError as exc:
            raise SendRefusedError(f"SMS gateway answered {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ConnectionRefusedError | socket.gaierror):
                raise SendRefusedError(f"SMS gateway unreachable: {exc.reason}") from exc
            raise SendUnknownError(f"SMS gateway: {exc.reason}") from exc
        except OSError as exc:
            raise SendUnknownError(f"SMS gateway: {exc}") from exc
