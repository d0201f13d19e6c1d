"""The error classes every layer raises; shown to users without a traceback."""

from __future__ import annotations


class CrmSyncError(Exception):
    """Base of every error crmsync raises on purpose."""


class UserError(CrmSyncError):
    """Something the user asked for cannot be done; ``problems`` says why."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ConfigError(UserError):
    """The configuration is incomplete or contradictory."""


class AuthError(CrmSyncError):
    """The mail system refused our credentials; the mailbox needs re-authentication."""


class TransientError(CrmSyncError):
    """A temporary failure (network, throttling); retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CursorExpiredError(CrmSyncError):
    """The saved cursor is no longer valid (410 Gone, UIDVALIDITY change): resync."""
