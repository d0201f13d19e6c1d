"""Secrets and customers' addresses never reach a log line.

Logs are copied to places (a terminal, journald, a support ticket) that the database's
protections do not follow, so every line a crmsync process writes passes through
:class:`Redactor`: API keys, bearer tokens and feed URLs' secrets are replaced always,
and mail addresses unless the line is a DEBUG one (an admin debugging a mailbox may ask
for them; nothing else shows them).
"""

from __future__ import annotations

import logging
import re

_SECRETS = (
    (re.compile(r"(/feeds/)[A-Za-z0-9_-]{16,}(\.ics)"), r"\1[redacted]\2"),
    (re.compile(r"\bcrm_[A-Za-z0-9_-]{16,}"), "crm_[redacted]"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:password|secret|client_secret|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
     r"\1[redacted]"),
)
_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def redact(text: str, keep_addresses: bool = False) -> str:
    """Return ``text`` with secrets (and, unless kept, mail addresses) replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text if keep_addresses else _ADDRESS.sub("[address]", text)


class Redactor(logging.Filter):
    """A handler filter that rewrites each record's message through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, keep_addresses=record.levelno <= logging.DEBUG)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text,
                                     keep_addresses=record.levelno <= logging.DEBUG)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Put a :class:`Redactor` on every handler of ``logger`` (the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, Redactor) for f in handler.filters):
            handler.addFilter(Redactor())
