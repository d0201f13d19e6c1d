"""Page hook: give mails stored before their parent the links their conversation passes on.

When a page stores mail whose conversation already has members stored out of order (a
reply before the mail it answers: an IMAP first sync goes newest window first, an mbox
may be exported in reverse), the automatic links of that conversation are decided again
in conversation order, inside the page's transaction
(:func:`crmsync.sync_service.engine.settle.settle_groups`). In date order nothing is stale and the
hook costs one query: whether a mail stored earlier names one of the page's new mails.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crmsync.crm.conversations import REF, find_conversation_keys, holders_of, members_of
from crmsync.mapping.conversations import conversation_groups, needs_rethread
from crmsync.sync_service.engine.linking import stored_thread_keys
from crmsync.sync_service.engine.settle import settle_groups


def rethread_hook(session: Session, mailbox: object, writer: Any) -> None:
    """Re-decide the automatic links of conversations the page's mail completes."""
    late = _stored_before_their_parent(session, writer.stored)
    if not late:
        return
    search = {key for item in late for key in stored_thread_keys(item.mail_facts)}
    members = members_of(session, find_conversation_keys(session, search))
    stale = [group for group in conversation_groups(members) if needs_rethread(group)]
    if stale:
        decided = {s.activity_id: s.decision.links for s in writer.stored}
        writer.counters["rethreaded"] += settle_groups(
            session, stale, writer.directory, writer.options.now, decided
        )


def _stored_before_their_parent(session: Session, stored: list[Any]) -> list[Any]:
    """Return the page's new mails that a mail stored before them may inherit from.

    A conversation can be stale only where a mail was stored before one it inherits
    from: one that names a page mail's Message-ID (its ``ref:`` key) or shares its
    provider conversation, stored with a lower id. One query finds them; in arrival
    order it finds none, and nothing more is read.
    """
    probes: dict[str, list[Any]] = {}
    for item in stored:
        if item.created:
            for key in item.mail_facts.own_keys:
                probe = key if key.startswith("conv:") else f"{REF}{key}"
                probes.setdefault(probe[:1000], []).append(item)
    if not probes:
        return []
    late: dict[int, Any] = {}
    for key, activity_id in holders_of(session, probes):
        for item in probes[key]:
            if activity_id < item.activity_id:
                late[item.activity_id] = item
    return list(late.values())
