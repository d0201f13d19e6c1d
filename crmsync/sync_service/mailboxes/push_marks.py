"""Which folders ``crmsync serve`` pushes and which it leaves to the poll.

The push watcher (:mod:`crmsync.sync_service.triggers.imap_idle`) marks each folder it
watches ``notify`` or ``idle`` (IMAP), or ``stream`` (EWS streaming notifications) until
a time it keeps moving forward; the surfaces
(``crmsync mailbox list``) read the marks. A mark that lapsed (serve stopped or
crashed) or was never set reads as ``poll``: the scheduler's poll is then all there is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox, SyncState
from crmsync.sync_service.context import Services

#: a folder's push mode when nothing pushes it
POLLED = "poll"


def mark_push(services: Services, mailbox: str, modes: Mapping[str, str | None],
              until: datetime) -> int:
    """Mark ``mailbox``'s folders pushed (``notify``/``idle``/``stream``) until ``until``,
    or polled.

    Only folders with a sync state are marked: the engine creates that row at the
    folder's first sync, and creating it here could collide with that insert. The
    watcher marks again later, so a folder synced meanwhile gets its mark then.

    :param modes: folder → ``notify``, ``idle``, ``stream`` or ``None``/``poll`` (polled).
    :returns: how many of the folders were marked.
    """
    with session_scope(services.sessions) as session:
        states = session.scalars(
            select(SyncState).join(Mailbox, SyncState.mailbox_id == Mailbox.id)
            .where(Mailbox.name == mailbox, SyncState.resource.in_(list(modes)))).all()
        for state in states:
            state.push = modes[state.resource]
            state.push_until = until if state.push else None
        return len(states)


def push_modes(states: Iterable[SyncState], now: datetime) -> dict[str, str]:
    """Return folder → ``notify``, ``idle``, ``stream`` or ``poll`` for one mailbox's
    sync states."""
    return {
        state.resource: state.push
        if state.push and state.push_until is not None and state.push_until > now
        else POLLED
        for state in states
    }
