"""The support page hook: every mail of a support mailbox opens, joins or answers a case.

It runs inside the page's transaction (a page hook, see
:class:`~crmsync.sync_service.engine.page.PageHook`): the case, its link,
the intake row (the idempotency key: one decision per activity, ever) and the
acknowledgement's outbox row commit with the page and its cursor, or not at all.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmsync.crm.models import Case, Mailbox
from crmsync.crm.support import OutboxMessage, SupportCase, SupportIntake
from crmsync.crm.tracking import removed_targets
from crmsync.mapping.cases import ThreadDecision, choose_case
from crmsync.mapping.links import Target, plan_links
from crmsync.mapping.loops import SenderKind, classify_sender, is_burst, mail_fingerprint
from crmsync.mapping.records import ProposedLink
from crmsync.sync_service.engine.link_rows import apply_link_plan, held_links
from crmsync.sync_service.engine.page import StoredMail, Writer
from crmsync.sync_service.support.alerts import Alert, queue_alert
from crmsync.sync_service.support.lookup import find_candidates
from crmsync.sync_service.support.opening import open_case
from crmsync.sync_service.support.settings import Intake, load_settings

log = logging.getLogger(__name__)
#: outcome of a mail a person took off the case it threads onto
REMOVED = "a person removed this mail from"
#: The case a support mailbox's thread names is linked even when a person put the mail on
#: another case (:data:`~crmsync.mapping.links.EXCLUSIVE_KINDS` does not apply here), as
#: intake always has.
INTAKE_EXCLUSIVE: frozenset[str] = frozenset()


def support_page_hook(session: Session, mailbox: Mailbox | None, writer: Writer) -> None:
    """Open, thread and acknowledge cases for the mail a support mailbox's page stored."""
    if mailbox is None or mailbox.purpose != "support" or not writer.stored:
        return
    session.flush()  # new activities get their ids
    writer.load_activities()  # intake reads each one's links
    intake = Intake(session, mailbox, writer, load_settings(session))
    for stored in writer.stored:
        seen = session.scalar(
            select(SupportIntake.id).where(SupportIntake.activity_id == stored.activity_id)
        )
        if seen is None:
            _take_in(intake, stored)


def _sender(stored: StoredMail) -> str:
    senders = [p.address for p in stored.decision.participants if p.role == "from"]
    return senders[0] if senders else ""


def _take_in(intake: Intake, stored: StoredMail) -> None:
    direction = stored.decision.direction
    if direction == "outbound":
        outcome, case_id = _agent_reply(intake, stored)
    elif direction == "inbound":
        outcome, case_id = _customer_mail(intake, stored)
    else:
        outcome, case_id = "internal mail: no case", None
    intake.session.add(SupportIntake(
        activity_id=stored.activity_id, mailbox_id=intake.mailbox.id, case_id=case_id,
        sender=_sender(stored)[:320], fingerprint=_fingerprint(stored),
        received_at=stored.decision.occurred_at, outcome=outcome, created_at=intake.now,
    ))
    intake.session.flush()


def _fingerprint(stored: StoredMail) -> str:
    return mail_fingerprint(_sender(stored), stored.decision.subject, stored.mail.body_text)


def _agent_reply(intake: Intake, stored: StoredMail) -> tuple[str, int | None]:
    """Our reply (Sent folder, or our address writing in): file it, mark the first response."""
    thread = choose_case(
        find_candidates(intake.session, stored), reopen_closed=False, may_reopen=False
    )
    if thread.case_id is None:
        return "our mail on no case", None
    case = intake.session.get(Case, thread.case_id)
    assert case is not None
    if not link_to_case(intake, stored, case, thread.reason):
        return f"{REMOVED} {case.number}", None  # not a response on that case either
    automatic = (stored.mail.headers.get("auto-submitted") or "no").strip().lower()
    if automatic.startswith("no") and not _from_outbox(intake.session, stored) \
            and case.first_response_at is None:
        # Our own acknowledgements carry Auto-Submitted (and, in a Sent folder that
        # drops headers, their outbox Message-ID): they are not a response.
        case.first_response_at = stored.decision.occurred_at
        if case.status == "New":
            case.status = "Open"
    return f"agent reply on {case.number}", case.id


def _from_outbox(session: Session, stored: StoredMail) -> bool:
    """Whether the mail is an automatic one crmsync sent (Graph files it in Sent Items);
    an agent's reply sent through crmsync (kind ``reply``) is a person's answer."""
    message_id = stored.activity_facts.message_id
    return bool(message_id) and session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.message_id == message_id,
                                       OutboxMessage.kind != "reply").limit(1)
    ) is not None


def _customer_mail(intake: Intake, stored: StoredMail) -> tuple[str, int | None]:
    kind = classify_sender(stored.mail.headers, intake.writer.directory.is_internal)
    thread = choose_case(
        find_candidates(intake.session, stored),
        reopen_closed=intake.settings.reopen_closed, may_reopen=kind.is_human,
    )
    if thread.action in ("join", "reopen"):
        outcome = _join(intake, stored, thread)
        return outcome, None if outcome.startswith(REMOVED) else thread.case_id
    if kind.kind == "bounce":
        # A bounce opens nothing (F14): filed on its case above when it names one.
        return f"no case: {kind.kind} ({kind.reason})", None
    held = _burst_case(intake, stored) if thread.action == "new" else None
    if held is not None:
        return f"near-identical to a mail on {held.number}: held as one", held.id
    return _open(intake, stored, kind, thread)


def _join(intake: Intake, stored: StoredMail, thread: ThreadDecision) -> str:
    case = intake.session.get(Case, thread.case_id)
    assert case is not None
    if not link_to_case(intake, stored, case, thread.reason):
        return f"{REMOVED} {case.number}"  # nor does it reopen the case
    if thread.action == "reopen":
        case.status = "Reopened"
        support = intake.session.get(SupportCase, case.id)
        if support is not None:
            support.closed_at = None
            support.reopened_count += 1
        return f"reopened {case.number}"
    return f"joined {case.number}"


def _open(intake: Intake, stored: StoredMail, kind: SenderKind,
          thread: ThreadDecision) -> tuple[str, int | None]:
    follow_up_of = thread.case_id if thread.action == "follow_up" else None
    case = open_case(intake, stored, kind, follow_up_of)
    reason = f"opened {case.number} from this mail"
    if follow_up_of is not None:
        reason = f"opened {case.number}, a follow-up of {thread.number}"
    link_to_case(intake, stored, case, reason)
    return reason, case.id


def link_to_case(intake: Intake, stored: StoredMail, case: Case, reason: str) -> bool:
    """Link the mail's activity to ``case`` once, with ``reason``.

    :returns: whether the mail is on the case: ``False`` when a person took it off
        (``link_removals``), since automation never undoes a person's decision.
    """
    activity = stored.activity
    held = held_links(activity.links)
    if any(link.target == Target("case", case.id) for link in held):
        return True  # on the case already (removals are read only when they can matter)
    removed = removed_targets(intake.session, [activity.id]).get(activity.id, frozenset())
    plan = plan_links(held, [ProposedLink("case", case.id, reason, 1.0)], removed,
                      exclusive=INTAKE_EXCLUSIVE)
    apply_link_plan(activity, plan, intake.now)
    return bool(plan.add)


def _burst_case(intake: Intake, stored: StoredMail) -> Case | None:
    """Return the case a near-identical recent mail of this sender opened, if any.

    The same mail sent again within the window joins that case instead of opening
    another; when the count reaches the burst threshold an alert is raised, once.
    """
    session, settings = intake.session, intake.settings
    received = stored.decision.occurred_at
    window = (
        SupportIntake.sender == _sender(stored),
        SupportIntake.fingerprint == _fingerprint(stored),
        # Either side: a first sync stores the newest mail first.
        SupportIntake.received_at >= received - timedelta(seconds=settings.burst_seconds),
        SupportIntake.received_at <= received + timedelta(seconds=settings.burst_seconds),
        SupportIntake.case_id.is_not(None),
    )
    earlier = session.scalar(select(func.count()).select_from(SupportIntake).where(*window))
    if not earlier:
        return None
    case_id = session.scalar(
        select(SupportIntake.case_id).where(*window).order_by(SupportIntake.id.desc()).limit(1)
    )
    case = session.get(Case, case_id)
    assert case is not None
    link_to_case(intake, stored, case, f"near-identical to a mail on {case.number}")
    if is_burst(earlier, settings.burst_threshold):
        detail = (f"{earlier + 1} near-identical mails from {_sender(stored)} within "
                  f"{settings.burst_seconds} s, held as {case.number}")
        alert = Alert("burst", f"burst:{case.id}",
                      f"[{case.number}] Burst of near-identical mails: {case.subject}",
                      detail, case.id)
        if queue_alert(session, alert, intake.now, settings) is not None:
            log.warning("burst: %s", detail)
    return case
