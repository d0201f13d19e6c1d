"""`crmsync rules preview`: what the current rules would capture, link and purge; no writes.

The mailbox is read through its connector from the start of its window, each mail decided
exactly as a sync would (same directory, rules and conversation links), and the stored
activities are checked against the rules. The session is rolled back; no cursor moves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select

from crmsync.connectors.base import MailMessage
from crmsync.crm.db import session_scope
from crmsync.crm.directory import load_directory
from crmsync.crm.erase import purge_forbidden
from crmsync.crm.models import Mailbox
from crmsync.crm.rules import load_capture_rules
from crmsync.errors import UserError
from crmsync.mapping.mail import MailDecision, decide_mail
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.linking import ThreadIndex
from crmsync.sync_service.engine.run import policy_for, utcnow
from crmsync.sync_service.mailboxes.connecting import build_connector


@dataclass
class Preview:
    """The outcome of a preview: one line per mail, counts, and what would be purged."""

    lines: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    purge: list[tuple[int, str, str]] = field(default_factory=list)


def preview_mailbox(services: Services, name: str, limit: int = 1000) -> Preview:
    """Decide up to ``limit`` mails of mailbox ``name`` and list the purges; store nothing.

    :raises UserError: no such mailbox.
    """
    preview = Preview()
    now = utcnow()
    with session_scope(services.sessions) as session:
        mailbox = session.scalars(select(Mailbox).where(Mailbox.name == name)).one_or_none()
        if mailbox is None:
            raise UserError(f"no mailbox named {name}")
        directory = load_directory(session, services.internal_domains(session))
        rules = load_capture_rules(session, mailbox.owner_id)
        policy = policy_for(mailbox).with_rules(rules)
        preview.purge = purge_forbidden(session, policy, mailbox.owner_id, dry_run=True)
        mails = list(_fetch(services, mailbox, limit))
        threads = ThreadIndex.load(session, mails)
        def decide(mail: MailMessage) -> MailDecision:
            return decide_mail(mail, directory, now=now, policy=policy,
                               thread=threads.links_for(mail))

        for _mail, decision in threads.decide_all(mails, decide):
            preview.counts[decision.action] += 1
            links = "; ".join(f"{ln.kind} {ln.target_id}: {ln.reason}" for ln in decision.links)
            detail = links if decision.action == "capture" else decision.reason
            preview.lines.append(f"{decision.action:10} {decision.subject[:60]!r} {detail}")
        session.rollback()
    return preview


def _fetch(services: Services, mailbox: Mailbox, limit: int) -> Iterator[MailMessage]:
    count = 0
    with build_connector(services, mailbox) as connector:
        for resource in connector.list_resources():
            for page in connector.fetch_changes(resource, None):
                for change in page.changes:
                    if isinstance(change, MailMessage):
                        yield change
                        count += 1
                        if count >= limit:
                            return
