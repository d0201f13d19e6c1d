"""One exchangelib account per connection: sign-in, TLS trust, retries decided here.

* The server's version is not guessed (a guess costs requests and a misconfigured server
  can answer it wrongly): Exchange 2016, 2019 and Subscription Edition all accept the
  ``Exchange2016`` schema.
* The authentication type is given, never probed; Autodiscover is never used by a
  connection, as it can send the credentials to whatever host a DNS record or a redirect
  names: the URL is given (``mailbox add ews --url``) or was found once, when the mailbox
  was added, by :mod:`.autodiscover` under rule A6.
* exchangelib's retry policy is :class:`~exchangelib.protocol.FailFast`: its
  fault-tolerant policy would retry a wrong password (HTTP 401) as if it were throttling.
  :func:`with_backoff` waits out ``ErrorServerBusy`` exactly as long as the server's
  ``BackOffMilliseconds`` says, then asks again.
* Every request goes through :class:`~crmsync.connectors.https.PinnedAdapter`: to a
  checked address (https, 443 or an allowed network), TLS verified for the host's name,
  trust from ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` like every HTTPS client here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from exchangelib import BASIC, DELEGATE, IMPERSONATION, NTLM, Account, Configuration, Credentials
from exchangelib import errors as ews
from exchangelib.protocol import BaseProtocol, FailFast
from exchangelib.version import EXCHANGE_2016, Version

from crmsync.connectors.ews.errors import guarded
from crmsync.connectors.ews.settings import EwsSettings
from crmsync.connectors.https import PinnedAdapter
from crmsync.errors import TransientError

T = TypeVar("T")

# exchangelib builds its sessions' adapters from this class attribute: every EWS request
# crmsync sends goes to an address connectors/network.py allows (SSRF rule A6).
BaseProtocol.HTTP_ADAPTER_CLS = PinnedAdapter
#: how exchangelib words an ErrorServerBusy it made up rather than received
NOT_THE_SERVERS_BACK_OFF = ("Caused by", "Reraised from")


def open_account(settings: EwsSettings, password: str) -> Account:
    """The exchangelib account of ``settings.address``; no request is sent yet."""
    config = Configuration(
        service_endpoint=settings.url,
        credentials=Credentials(settings.username, password),
        auth_type=NTLM if settings.auth == "ntlm" else BASIC,
        version=Version(build=EXCHANGE_2016),
        retry_policy=FailFast(),
        max_connections=2,
    )
    return Account(
        primary_smtp_address=settings.address, config=config, autodiscover=False,
        access_type=IMPERSONATION if settings.impersonate else DELEGATE,
    )


def with_backoff(settings: EwsSettings, call: Callable[[], T],
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run one EWS request; after ``ErrorServerBusy`` wait exactly its back-off and retry.

    A back-off longer than ``settings.max_wait``, or more than ``settings.max_retries``
    in a row, ends the run with :class:`~crmsync.errors.TransientError` carrying the
    back-off, so the scheduler asks again no earlier than the server allows. Other
    errors are translated by :func:`~crmsync.connectors.ews.errors.guarded`.

    :param call: one request, consumed completely (a list, not a lazy generator), so a
        retry repeats the request and nothing was handed on before it failed.
    """
    attempt = 0
    while True:
        try:
            return guarded(settings.address, lambda: _busy_passes(call))
        except _Busy as busy:
            attempt += 1
            if busy.seconds > settings.max_wait or attempt > settings.max_retries:
                raise TransientError(
                    f"Exchange is busy (ErrorServerBusy): it asked to wait "
                    f"{busy.seconds:.1f} s", retry_after=busy.seconds) from busy
            sleep(busy.seconds)


def made_up(exc: Exception) -> bool:
    """Whether exchangelib raised ``exc`` itself for a lost, closed or timed-out
    connection (Exchange's answer may never have come), not for Exchange's answer."""
    return str(exc).startswith(NOT_THE_SERVERS_BACK_OFF)


class _Busy(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def _busy_passes(call: Callable[[], T]) -> T:
    try:
        return call()
    except ews.ErrorServerBusy as exc:
        # exchangelib raises ErrorServerBusy for Exchange's own answer (its
        # BackOffMilliseconds read into back_off, in seconds) and also for what it only
        # guesses is throttling: a closed connection, an ambiguous 401 ("Caused by ...",
        # "Reraised from ..."). Only the server's answer is waited out in place; a guess
        # ends the run, to be tried again by the next one.
        if made_up(exc) or not exc.back_off:
            raise TransientError(f"Exchange could not be reached: {exc}") from exc
        raise _Busy(float(exc.back_off)) from exc
