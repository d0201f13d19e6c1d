"""The page hook that stores the meetings of a page's mail invitations (iTIP)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crmsync.crm.models import Mailbox
from crmsync.sync_service.engine.page import Writer


def invitations_hook(session: Session, mailbox: Mailbox | None, writer: Writer) -> None:
    """Page hook: the meetings in the page's mail invitations (``meetings.itip_hook``).

    Imported when a page holds an invitation: the calendar libraries cost every sync
    start a twentieth of a second otherwise.
    """
    if any(stored.mail.calendar_parts for stored in writer.stored):
        from crmsync.sync_service.engine.meetings import itip_hook

        itip_hook(session, mailbox, writer)
