"""Work that runs after a page is stored, inside the same transaction.

A hook sees the page's :class:`~crmsync.sync_service.engine.store.PageWriter` (its
``stored`` mail) and the mailbox it came from (``None`` for file imports). What a
hook writes commits or rolls back with the page and its cursor, so it happens
exactly once. Side effects outside the database (sending mail) go to an outbox
row here and are delivered after the commit.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from crmsync.crm.models import Mailbox
from crmsync.sync_service.engine.store import PageWriter

PageHook = Callable[[Session, Mailbox | None, PageWriter], None]


def default_page_hooks() -> list[PageHook]:
    """Return the hooks every sync runs, in order."""
    from crmsync.crm.tracking import tracking_page_hook
    from crmsync.sync_service.engine.linking import record_linking_hook
    from crmsync.sync_service.engine.rethread import rethread_hook
    from crmsync.sync_service.support import support_page_hook

    # rethread_hook last: earlier-stored replies inherit the links the others just made.
    return [record_linking_hook, invitations_hook, support_page_hook, tracking_page_hook,
            rethread_hook]


def invitations_hook(session: Session, mailbox: Mailbox | None, writer: PageWriter) -> None:
    """Page hook: the meetings in the page's mail invitations (``meetings.itip_hook``).

    Imported when a page holds an invitation: the calendar libraries cost every sync
    start a twentieth of a second otherwise.
    """
    if any(stored.mail.calendar_parts for stored in writer.stored):
        from crmsync.sync_service.engine.meetings import itip_hook

        itip_hook(session, mailbox, writer)
