"""The command line's side of the audit log: each security-relevant command leaves a row."""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable
from typing import Any

from crmsync.crm.audit import record
from crmsync.crm.db import session_scope
from crmsync.mapping.privacy import address_hash
from crmsync.sync_service.cli import services

Params = dict[str, Any]


def cli_actor() -> str:
    """Who ran the command: the operating-system user (the CLI has no CRM sign-in)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli:unknown"


def audited(action: str, target: Callable[[Params], Any] = lambda _: "",
            detail: Callable[[Params], Params] = lambda _: {}) -> Callable:
    """Record ``action`` once the command succeeded (a failed command changed nothing).

    :param target: what the command acted on, from its parameters.
    :param detail: more of its parameters worth keeping (never a secret or an address).
    """
    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def run(**params: Any) -> Any:
            result = command(**params)
            with session_scope(services().sessions) as session:
                record(session, cli_actor(), action, str(target(params)), "cli",
                       **detail(params))
            return result
        return run
    return decorate


def hashed(name: str) -> Callable[[Params], str]:
    """A target that is a customer's address, kept only as its hash."""
    return lambda params: "sha256:" + address_hash(params[name])
