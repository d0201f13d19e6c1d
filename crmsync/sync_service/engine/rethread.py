"""Page hook: give mails stored before their parent the links their conversation passes on.

When a page stores mail whose conversation already has members stored out of order (a
reply before the mail it answers: a first sync lists newest first), the automatic links
of that conversation are decided again in conversation order, inside the page's
transaction (:func:`crmsync.crm.rethread.settle_groups`). In date order nothing is
stale and the hook costs one query: the search for the page's conversations.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crmsync.crm.rethread import find_conversation_keys, members_of, settle_groups
from crmsync.mapping.conversations import conversation_groups, needs_rethread
from crmsync.sync_service.engine.linking import stored_thread_keys


def rethread_hook(session: Session, mailbox: object, writer: Any) -> None:
    """Re-decide the automatic links of conversations the page's mail completes."""
    if not writer.stored:
        return
    session.flush()
    search = {key for item in writer.stored for key in stored_thread_keys(item.mail)}
    members = members_of(session, find_conversation_keys(session, search))
    stale = [group for group in conversation_groups(members) if needs_rethread(group)]
    if stale:
        decided = {s.activity.id: s.decision.links for s in writer.stored}
        writer.counters["rethreaded"] += settle_groups(
            session, stale, writer.directory, writer.options.now, decided
        )
