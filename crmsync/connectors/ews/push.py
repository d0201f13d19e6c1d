"""Streaming notifications: ``crmsync serve`` hears of a change within a second.

MSDN: https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-stream-notifications-about-mailbox-events-by-using-ews-in-exchange

One ``Subscribe`` (``StreamingSubscriptionRequest``) covers every folder the mailbox
syncs. A reader thread holds ``GetStreamingEvents`` open on it and puts each change it
hears into a queue; :meth:`StreamingWatch.wait` takes from the queue. So a wait of any
length works (the watcher asks for 2 s right after activity, though EWS counts a
connection's life in whole minutes), and a mail that arrives while the watcher syncs
is already waiting when it asks again.

Exchange's limits, and what is done about them:

* a connection lasts at most 30 minutes, or less if the server closes it: the reader
  opens the next one at once; changes in between are kept by the subscription;
* a subscription lapses about 30 minutes after its last connection, and is lost when
  the mailbox moves or the server restarts (``ErrorSubscriptionNotFound``,
  ``ErrorInvalidSubscription``, ``ErrorExpiredSubscription``): it is created again and
  the wait reports a change, since what happened meanwhile was not heard;
* a server that refuses streaming (``ErrorInvalidSubscriptionRequest``, or the
  account may not subscribe) leaves the watch polling: each wait sleeps its whole
  length and reports nothing, so the watcher's sync after it is the poll. Why is
  logged once.

The held connection is one more than the account's requests may use: exchangelib shares
one connection pool among every account with the same credentials and URL (a service
account impersonating many mailboxes), so each watch raises the pool's limit by one
while it reads, and syncs never wait behind a stream.

Any other error ends the reader and is raised by the next wait as crmsync's own error
(:func:`~crmsync.connectors.ews.errors.translated`); the watcher then starts again with a
fresh connection and subscription.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from exchangelib import errors as ews
from exchangelib.folders import BaseFolder, FolderCollection
from exchangelib.services import GetStreamingEvents, Unsubscribe

from crmsync.connectors.ews.account import with_backoff
from crmsync.connectors.ews.errors import translated
from crmsync.connectors.ews.settings import EwsSettings
from crmsync.errors import CrmSyncError

log = logging.getLogger(__name__)

#: the events that mean a folder's content changed (FreeBusyChangedEvent does not)
CHANGES = ("CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent",
           "NewMailEvent")
#: minutes one GetStreamingEvents connection is asked to last (Exchange allows 1 to 30)
CONNECTION_MINUTES = 30
#: a connection that ended sooner than this is followed by a pause this long
MIN_CONNECTION_SECONDS = 1.0
#: the subscription is gone: subscribe again
LAPSED = (ews.ErrorSubscriptionNotFound, ews.ErrorInvalidSubscription,
          ews.ErrorExpiredSubscription)
#: the server will not stream to this account: poll instead
REFUSED = (ews.ErrorInvalidSubscriptionRequest, ews.ErrorSubscriptionAccessDenied,
           ews.ErrorSubscriptionDelegateAccessNotSupported)

#: what the reader puts in the queue: a change heard (True), a wake-up after streaming
#: was refused (False), or the error that ended it
Signal = bool | BaseException


class StreamingWatch:
    """One streaming subscription over a mailbox's folders and the thread reading it.

    :param account: the exchangelib account (shared with the connector).
    :param settings: the mailbox's settings (back-off limits, address for errors).
    :param sleep: how a polling wait passes its time (tests may shorten it).
    """

    def __init__(self, account: Any, settings: EwsSettings,
                 sleep: Callable[[float], None]) -> None:
        self.account = account
        self.settings = settings
        self._sleep = sleep
        self._signals: queue.Queue[Signal] = queue.Queue()
        self._stopped = threading.Event()
        self._folders: list[BaseFolder] = []
        self._subscription: str | None = None
        self._reader: threading.Thread | None = None
        self._extra_connection = False
        #: why streaming is refused (the watch polls); None while it streams
        self.refused: str | None = None

    @property
    def mode(self) -> str:
        """``stream``, or ``poll`` when the server refused streaming."""
        return "poll" if self.refused else "stream"

    def start(self, folders: Sequence[BaseFolder]) -> None:
        """Subscribe to ``folders`` (once) and start reading; a refusal switches to polling.

        :raises AuthError: credentials were refused.
        :raises TransientError: the server could not be reached or is busy.
        """
        if self.refused or self._subscription is not None:
            return
        self._folders = list(folders)
        try:
            self._subscription = self._subscribe()
        except CrmSyncError as exc:
            if not isinstance(exc.__cause__, REFUSED):
                raise
            self._refuse(exc.__cause__)
            return
        self._widen_pool(+1)
        self._start_reader()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change; see `Idling.idle_wait_many`."""
        if self.refused:
            self._sleep(timeout)
            return False
        if self._reader is not None and not self._reader.is_alive() and self._signals.empty():
            self._start_reader()  # it failed, and the failure was raised: try again
        try:
            signal = self._signals.get(timeout=timeout)
        except queue.Empty:
            return False
        changed = False
        while True:  # everything heard so far is covered by the one sync that follows
            if isinstance(signal, BaseException):
                raise signal
            changed = changed or signal
            try:
                signal = self._signals.get_nowait()
            except queue.Empty:
                return changed

    def close(self) -> None:
        """Stop reading and remove the subscription (the server then ends the stream)."""
        self._stopped.set()
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                Unsubscribe(account=self.account).get(subscription_id=subscription)
            except ews.EWSError as exc:  # it lapses by itself within 30 minutes
                log.info("%s: could not remove the streaming subscription: %s",
                         self.settings.address, exc)
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._widen_pool(-1)

    def _widen_pool(self, step: int) -> None:
        """Give the stream a connection of its own in the shared pool, or take it back."""
        if self._extra_connection is (step > 0):
            return
        protocol = self.account.protocol
        protocol.max_connections = protocol.max_connections + step
        self._extra_connection = step > 0

    # -- the reader thread ---------------------------------------------------------------

    def _subscribe(self) -> str:
        """Subscribe to the folders' changes; return the subscription id.

        :raises CrmSyncError: translated, the exchangelib error as its ``__cause__``.
        """
        collection = FolderCollection(account=self.account, folders=self._folders)
        return str(with_backoff(self.settings, lambda: collection.subscribe_to_streaming(
            event_types=CHANGES), self._sleep))

    def _start_reader(self) -> None:
        self._reader = threading.Thread(
            target=self._read, name=f"crmsync-ews-stream-{self.settings.address}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Hold GetStreamingEvents open, reconnect as it closes, until stopped or failed."""
        while not self._stopped.is_set():
            began = time.monotonic()
            try:
                if self._subscription is None:
                    self._subscription = self._subscribe()
                    self._signals.put(True)  # changes before it were not heard
                self._stream(self._subscription)
            except Exception as exc:
                if self._stopped.is_set():
                    return
                if not self._recover(_original(exc)):
                    return
            if time.monotonic() - began < MIN_CONNECTION_SECONDS:
                self._stopped.wait(MIN_CONNECTION_SECONDS)  # a server closing at once

    def _recover(self, exc: BaseException) -> bool:
        """Handle what ended a connection; return whether the reader goes on."""
        if isinstance(exc, LAPSED):
            log.info("%s: the streaming subscription lapsed (%s); subscribing again",
                     self.settings.address, type(exc).__name__)
            self._subscription = None
            return True
        if isinstance(exc, REFUSED):
            self._refuse(exc)
            self._signals.put(False)  # wake the waiter: it polls from now on
            return False
        self._signals.put(_translated(exc, self.settings.address))  # the watcher starts over
        return False

    def _stream(self, subscription: str) -> None:
        """Read one connection until the server closes it, queueing each change heard."""
        service = GetStreamingEvents(account=self.account)
        for notification in service.call(subscription_ids=[subscription],
                                         connection_timeout=CONNECTION_MINUTES):
            if self._stopped.is_set():
                return
            if any(type(event).__name__ in CHANGES for event in notification.events):
                self._signals.put(True)

    def _refuse(self, exc: Exception) -> None:
        self.refused = f"{type(exc).__name__}: {exc}"
        log.warning("%s: Exchange refused streaming notifications (%s); new mail is "
                    "found by polling instead", self.settings.address, self.refused)


def _original(exc: BaseException) -> BaseException:
    """The exchangelib error behind one :func:`with_backoff` translated, else ``exc``."""
    if isinstance(exc, CrmSyncError) and isinstance(exc.__cause__, ews.EWSError):
        return exc.__cause__
    return exc


def _translated(exc: BaseException, address: str) -> BaseException:
    """The crmsync error for an exchangelib one (unknown EWS codes included); others as is."""
    if isinstance(exc, ews.EWSError):
        known = translated(exc, address)
        return known or CrmSyncError(
            f"Exchange refused streaming notifications: {type(exc).__name__}: {exc}")
    return exc
