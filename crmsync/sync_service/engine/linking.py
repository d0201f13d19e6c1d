"""What the page writer needs for links beyond participants: conversations and suggestions.

Query budget: :meth:`ThreadIndex.load` runs at most three queries per page (keys, legacy
Message-IDs, links), and :func:`record_linking` two bulk INSERTs: never one per mail.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.connectors.base import MailMessage
from crmsync.crm.bulk import insert_rows
from crmsync.crm.conversations import REF
from crmsync.crm.links import ActivityThreadKey, LinkSuggestion
from crmsync.crm.models import LINK_TARGET_COLUMNS, Activity, ActivityLink
from crmsync.mapping.conversations import best_thread_links
from crmsync.mapping.evidence import ThreadLink
from crmsync.mapping.facts import MailFacts, mail_facts
from crmsync.mapping.mail import SKIP_UNMATCHED, MailDecision
from crmsync.sync_service.engine.link_rows import stored_target

#: a link's typed target columns, selected without loading whole link rows
_TARGET_COLUMNS = tuple(getattr(ActivityLink, column) for column in LINK_TARGET_COLUMNS.values())


FactsOf = Callable[[MailMessage], MailFacts]


class ThreadIndex:
    """The links of the conversations a page's mails reply to, found by their keys."""

    def __init__(self, by_key: dict[str, list[ThreadLink]], facts_of: FactsOf = mail_facts
                 ) -> None:
        self.by_key = by_key
        self.facts_of = facts_of

    @classmethod
    def load(cls, session: Session, mails: Iterable[MailMessage],
             facts_of: FactsOf = mail_facts) -> ThreadIndex:
        """Return the index for ``mails``: no query when none of them replies to anything.

        :param facts_of: where a mail's :class:`~crmsync.mapping.facts.MailFacts` come
            from (the page writer keeps those the fetch process computed).
        """
        keys = {key for mail in mails for key in facts_of(mail).lookup_keys}
        if not keys:
            return cls({}, facts_of)
        activities: dict[int, set[str]] = defaultdict(set)
        for key, activity_id in session.execute(
            select(ActivityThreadKey.key, ActivityThreadKey.activity_id).where(
                ActivityThreadKey.key.in_(keys)
            )
        ):
            activities[activity_id].add(key)
        message_ids = {key for key in keys if not key.startswith("conv:")}
        if message_ids:
            # Activities stored before thread keys existed, or by other paths (meetings).
            for mid, activity_id in session.execute(
                select(Activity.internet_message_id, Activity.id).where(
                    Activity.internet_message_id.in_(message_ids)
                )
            ):
                activities[activity_id].add(mid)
        return cls(_links_by_key(session, activities), facts_of)

    def links_for(self, mail: MailMessage) -> list[ThreadLink]:
        """Return the links of earlier mails of ``mail``'s conversation, each once."""
        return best_thread_links(
            link for key in self.facts_of(mail).lookup_keys for link in self.by_key.get(key, ())
        )

    def decide_all(
        self, mails: Sequence[MailMessage],
        decide: Callable[[MailMessage], MailDecision | None],
    ) -> list[tuple[MailMessage, MailDecision | None]]:
        """Decide ``mails`` in order, then again those a later mail of the page would thread.

        A first sync lists newest first, so a reply often comes before its parent in a
        page: a reply skipped for lack of links is decided again once the page's captured
        mails are known (in memory, no query), until nothing changes.
        """
        results = []
        for mail in mails:
            decision = decide(mail)
            if decision is not None and decision.action == "capture":
                self.remember(mail, decision)  # later mails of the page thread onto it
            results.append((mail, decision))
        waiting = [i for i, (mail, d) in enumerate(results)
                   if d is not None and d.reason == SKIP_UNMATCHED
                   and self.facts_of(mail).lookup_keys]
        progress = True
        while waiting and progress:
            progress = False
            for index in list(waiting):
                mail = results[index][0]
                decision = decide(mail) if self.links_for(mail) else None
                if decision is not None and decision.action == "capture":
                    results[index] = (mail, decision)
                    self.remember(mail, decision)
                    waiting.remove(index)
                    progress = True
        return results

    def remember(self, mail: MailMessage, decision: MailDecision) -> None:
        """Make ``mail``'s links visible to later mails of the same page."""
        for key in self.facts_of(mail).own_keys:
            via_headers = not key.startswith("conv:")
            self.by_key.setdefault(key, []).extend(
                ThreadLink(link.kind, link.target_id, False, via_headers)
                for link in decision.links
            )


def _links_by_key(
    session: Session, activities: dict[int, set[str]]
) -> dict[str, list[ThreadLink]]:
    if not activities:
        return {}
    by_key: dict[str, list[ThreadLink]] = defaultdict(list)
    rows = session.execute(
        select(ActivityLink.activity_id, ActivityLink.source, *_TARGET_COLUMNS).where(
            ActivityLink.activity_id.in_(activities)
        )
    )
    for row in rows:
        target = stored_target(row)
        for key in activities[row.activity_id]:
            by_key[key].append(ThreadLink(
                target.kind, target.id, row.source == "user", not key.startswith("conv:")
            ))
    return by_key


def record_linking(session: Session, stored: Sequence[Any], now: datetime) -> None:
    """Insert the thread keys and suggestions of activities created in this page.

    :param stored: the page's :class:`~.store.StoredMail` entries; merged copies are
        passed over.
    """
    keys: dict[tuple[int, str], dict] = {}
    suggestions: dict[tuple[int, int], dict] = {}
    for item in stored:
        if not item.created:
            continue
        activity_id, decision = item.activity_id, item.decision
        for key in stored_thread_keys(item.mail_facts):
            keys.setdefault(
                (activity_id, key[:1000]), {"activity_id": activity_id, "key": key[:1000]}
            )
        for suggestion in decision.suggestions:
            suggestions.setdefault((activity_id, suggestion.target_id), {
                "activity_id": activity_id, "opportunity_id": suggestion.target_id,
                "rank": suggestion.rank, "reason": suggestion.reason,
                "score": suggestion.score, "created_at": now,
            })
    insert_rows(session, ActivityThreadKey.__table__, list(keys.values()))
    insert_rows(session, LinkSuggestion.__table__, list(suggestions.values()))


def stored_thread_keys(facts: MailFacts) -> tuple[str, ...]:
    """Return the keys stored for a mail: its own (``facts.own_keys``, as
    :func:`~crmsync.mapping.mail.thread_keys`), then ``ref:<id>`` for each id it replies
    to or references.

    The ``ref:`` keys let a parent that arrives after its replies find them
    (:mod:`.rethread`); lookups by reply (:meth:`ThreadIndex.load`) never match them.
    """
    refs = (f"{REF}{key}" for key in facts.lookup_keys if not key.startswith("conv:"))
    return (*facts.own_keys, *refs)


def record_linking_hook(session: Session, mailbox: object, writer: Any) -> None:
    """Page hook: :func:`record_linking` for the page ``writer`` just stored."""
    record_linking(session, writer.stored, writer.options.now)
