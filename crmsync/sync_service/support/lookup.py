"""Find the cases a mail may belong to; :func:`crmsync.mapping.cases.choose_case` decides.

Every kind of evidence the issue names is looked up: a case token in the subject or
body, In-Reply-To and References pointing at any mail of a case (a stored activity or
a mail crmsync sent from the outbox), a crmsync marker quoted back in the body, and
the conversation key.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.models import Activity, ActivityLink, Case
from crmsync.crm.support import OutboxMessage
from crmsync.mapping.cases import CaseCandidate, find_case_markers, find_case_tokens
from crmsync.mapping.threads import parse_message_ids
from crmsync.sync_service.engine.page import StoredMail

#: most ids of one header that are looked up (References of hostile mail can be huge)
MAX_IDS = 100


def find_candidates(session: Session, stored: StoredMail) -> list[CaseCandidate]:
    """Return every case ``stored`` points at, with the kind of evidence."""
    mail, decision = stored.mail, stored.decision
    found: list[CaseCandidate] = []
    tokens = find_case_tokens(decision.subject) + find_case_tokens(mail.body_text)
    found += _by_numbers(session, tokens, "token")
    headers = mail.headers
    for field, via in (("in-reply-to", "in-reply-to"), ("references", "references")):
        ids = parse_message_ids(headers.get(field))[-MAX_IDS:]
        found += _by_message_ids(session, ids, via, stored.activity_id)
    found += _by_numbers(session, find_case_markers(mail.body_text), "marker")
    found += _by_conversation(session, decision.conversation, stored.activity_id)
    return found


def _candidate(case: Case, via: str) -> CaseCandidate:
    return CaseCandidate(case.id, case.number, case.status, via)


def _by_numbers(session: Session, numbers: list[str], via: str) -> list[CaseCandidate]:
    if not numbers:
        return []
    cases = session.scalars(select(Case).where(Case.number.in_(numbers[:MAX_IDS])))
    return [_candidate(case, via) for case in cases]


def _by_message_ids(
    session: Session, ids: list[str], via: str, activity_id: int
) -> list[CaseCandidate]:
    if not ids:
        return []
    linked = select(ActivityLink.case_id).join(Activity).where(
        Activity.internet_message_id.in_(ids), ActivityLink.case_id.is_not(None),
        Activity.id != activity_id,
    )
    sent = select(OutboxMessage.case_id).where(
        OutboxMessage.message_id.in_(ids), OutboxMessage.case_id.is_not(None)
    )
    cases = session.scalars(select(Case).where(Case.id.in_(linked.union(sent))))
    return [_candidate(case, via) for case in cases]


def _by_conversation(session: Session, conversation: str, activity_id: int) -> list[CaseCandidate]:
    if not conversation or conversation.startswith("hash:"):
        return []  # a content hash names one mail, not a conversation
    linked = select(ActivityLink.case_id).join(Activity).where(
        Activity.conversation == conversation[:1000], ActivityLink.case_id.is_not(None),
        Activity.id != activity_id,
    )
    cases = session.scalars(select(Case).where(Case.id.in_(linked)))
    return [_candidate(case, "conversation") for case in cases]
