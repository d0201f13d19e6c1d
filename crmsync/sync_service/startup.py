"""What a crmsync process assembles once, at start-up: its services and page hooks.

The CLI's main and the Flask app factory call :func:`build_services`; the engine runs
the hooks it is handed and never imports them, so the support desk, tracking and
meetings plug into it without the engine knowing they exist.
"""

from __future__ import annotations

from typing import Any

from crmsync.sync_service.config import load_config
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.page import PageHook


def build_services(overrides: dict[str, Any] | None = None) -> Services:
    """Return the process's services: configuration (with ``overrides``) and hooks."""
    return Services(config=load_config(overrides), hook_factory=default_page_hooks)


def default_page_hooks() -> list[PageHook]:
    """Return the hooks every sync runs, in order.

    Imported here, when the first sync needs them, rather than at start-up: the support
    desk and its mail libraries cost a command that never syncs.
    """
    from crmsync.sync_service.engine.intents import tracking_page_hook
    from crmsync.sync_service.engine.invitations import invitations_hook
    from crmsync.sync_service.engine.linking import record_linking_hook
    from crmsync.sync_service.engine.rethread import rethread_hook
    from crmsync.sync_service.support import support_page_hook

    # rethread_hook last: earlier-stored replies inherit the links the others just made.
    return [record_linking_hook, invitations_hook, support_page_hook, tracking_page_hook,
            rethread_hook]
