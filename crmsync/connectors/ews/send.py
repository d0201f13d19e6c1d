"""Sending as an Exchange mailbox: ``CreateItem`` with the MIME and ``SendAndSaveCopy``.

Support mailboxes acknowledge new cases through their own connector (the
:class:`~crmsync.connectors.base.Sending` contract: exactly once as far as a client can).
Everything that can fail without the mail reaching Exchange runs before
``point_of_no_return``: the sign-in and the Sent Items lookup (one GetFolder). The one
``CreateItem`` after it is never retried here: an EWS answer (an error response, a SOAP
fault, ``ErrorServerBusy``) proves Exchange did not take the mail, a lost connection
proves nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from exchangelib import Message
from exchangelib import errors as ews
from exchangelib.folders import BaseFolder

from crmsync.connectors.base import SendReceipt, SendRefusedError, SendUnknownError
from crmsync.connectors.ews.account import made_up
from crmsync.errors import CrmSyncError

#: EWS answers (error responses, SOAP faults) that prove Exchange did not take the mail
REFUSALS = (ews.ResponseMessageError, ews.SOAPError, ews.UnauthorizedError)
#: ...except these, which may come after Exchange acted on the request
AMBIGUOUS = (ews.ErrorTimeoutExpired, ews.ErrorInternalServerTransientError)


def send_mime(account: Any, sent_items: Callable[[], BaseFolder], address: str,
              message: EmailMessage,
              point_of_no_return: Callable[[], None] | None = None) -> SendReceipt:
    """Send ``message`` as ``address``, a copy kept in Sent Items; every header kept.

    Exchange sends as the signed-in (or impersonated) mailbox, so its address replaces
    the From, as Graph's sendMail does.

    :param sent_items: returns the Sent Items folder, signing in on first use.
    """
    try:
        folder = sent_items()
    except CrmSyncError as exc:  # refused, unreachable, throttled: nothing was sent
        raise SendRefusedError(f"Exchange sign-in: {exc}") from exc
    outgoing = copy.deepcopy(message)
    if outgoing["From"] is None:
        outgoing["From"] = address
    else:
        outgoing.replace_header("From", address)
    item = Message(account=account, folder=folder, mime_content=outgoing.as_bytes())
    if point_of_no_return is not None:
        point_of_no_return()
    try:
        item.send_and_save()
    except ews.EWSError as exc:
        refused = isinstance(exc, REFUSALS) and not isinstance(exc, AMBIGUOUS)
        if refused and not made_up(exc):
            raise SendRefusedError(
                f"Exchange refused the mail: {type(exc).__name__}: {exc}") from exc
        raise SendUnknownError(f"Exchange CreateItem: {type(exc).__name__}: {exc}") from exc
    return SendReceipt(message["Message-ID"], "NoError")
