"""What Exchange's refusals mean for a mailbox, as crmsync's own errors with the fix.

exchangelib raises its own exception per EWS response code; the engine knows three
outcomes: :class:`~crmsync.errors.AuthError` (the mailbox "needs re-auth"),
:class:`~crmsync.errors.TransientError` (retried later, ``retry_after`` honoured) and
any other :class:`~crmsync.errors.CrmSyncError` (an error in plain words). The other
mailboxes go on in every case: a refusal is about this mailbox only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from exchangelib import errors as ews

from crmsync.errors import AuthError, ConfigError, CrmSyncError, CursorExpiredError, TransientError

T = TypeVar("T")

#: (exchangelib error classes, crmsync error class, what happened and what to do)
TRANSLATIONS: tuple[tuple[tuple[type[Exception], ...], type[CrmSyncError], str], ...] = (
    ((ews.UnauthorizedError,), AuthError,
     "Exchange refused the sign-in: check the user name and password (a locked-out "
     "account is refused the same way)"),
    ((ews.ErrorImpersonateUserDenied, ews.ErrorImpersonationDenied,
      ews.ErrorImpersonationFailed), AuthError,
     "the service account may not impersonate {address}: an Exchange admin grants it "
     "the ApplicationImpersonation role (New-ManagementRoleAssignment -Role "
     "ApplicationImpersonation -User <service account>)"),
    ((ews.ErrorAccessDenied,), AuthError,
     "Exchange denied access to {address}: sign in as its owner, or use a service "
     "account with --impersonate"),
    ((ews.ErrorAccountDisabled,), AuthError,
     "the Exchange account is disabled: an Exchange admin enables it, or connect the "
     "mailbox with another account"),
    ((ews.ErrorNonExistentMailbox,), ConfigError,
     "Exchange has no mailbox {address} (deleted, or a typing mistake): check the "
     "address, or remove this mailbox from crmsync"),
    ((ews.ErrorFolderNotFound,), ConfigError,
     "a synced folder is no longer in {address} (deleted or renamed): change the "
     "mailbox's folders, or `crmsync mailbox resync` to look them up again"),
    ((ews.ErrorMailboxStoreUnavailable, ews.ErrorMailboxMoveInProgress), TransientError,
     "the mailbox {address} is unavailable on the Exchange server (its database is "
     "offline or it is being moved); crmsync tries again later"),
)


def translated(exc: Exception, address: str) -> CrmSyncError | None:
    """Return the crmsync error for an exchangelib one, or None when it is not known."""
    for kinds, kind, text in TRANSLATIONS:
        if isinstance(exc, kinds):
            message = f"{text.format(address=address)} ({type(exc).__name__})"
            if kind is TransientError:
                return TransientError(message, retry_after=300)
            return kind(message)
    if isinstance(exc, ews.ErrorInvalidSyncStateData):
        return CursorExpiredError(f"Exchange refused the sync state: {exc}")
    if isinstance(exc, ews.ErrorServerBusy):
        return TransientError(f"Exchange is busy (throttled): {exc}",
                              retry_after=getattr(exc, "back_off", None))
    if isinstance(exc, ews.TransportError | ews.ErrorConnectionFailed |
                  ews.ErrorConnectionFailedTransientError):
        return TransientError(f"Exchange could not be reached: {exc}")
    return None


def guarded(address: str, call: Callable[[], T]) -> T:
    """Run ``call``; raise an exchangelib error as the crmsync one that explains it.

    An EWS error nobody translated stays a :class:`~crmsync.errors.CrmSyncError` with the
    server's code and words, so one unexpected code fails this mailbox's run, not the
    process.
    """
    try:
        return call()
    except ews.EWSError as exc:
        known = translated(exc, address)
        if known is not None:
            raise known from exc
        raise CrmSyncError(f"Exchange refused the request: {type(exc).__name__}: {exc}") from exc
