"""Follow-ups for reps: the one rule that decides which customer mail waits for an answer.

A rep *R* has a follow-up on a mail *M* at an instant *T* when all of these hold:

1. *M* is an inbound mail received at or before *T*, within :data:`LOOKBACK_DAYS` of it,
   whose sender (From) is a contact on one of *R*'s accounts (the account's owner is *R*)
   or on one of *R*'s open opportunities (an opportunity contact of a deal *R* owns);
2. *M* was written to *R*: *R* is in its To or Cc, or a copy sits in a mailbox *R* owns;
3. *R* may see *M* (:func:`crmsync.crm.visibility.visible_activities`: a private item in
   a colleague's mailbox never becomes *R*'s follow-up); and *M* is not on a support
   case (the case's first-response SLA is the desk's business);
4. *M* is unanswered at *T*: no outgoing mail (``direction`` outbound: the rep or anyone
   of the organization) in the same thread at or after *M* and at or before *T*, and *R*
   did not mark the thread "no reply needed" after *M* arrived. The thread is the stored
   conversation (:func:`crmsync.mapping.threads.conversation_key`, kept in
   ``Activity.conversation``) joined with the mails its thread keys reach
   (:func:`crmsync.crm.conversations.find_conversation_keys`), so a reply that names *M*
   only in In-Reply-To counts;
5. its due time has passed: *M*'s arrival plus ``followups.hours`` (default 12) of *R*'s
   working time (:mod:`crmsync.crm.work_hours`: days, hours, zone and holidays; nights,
   weekends and holidays pause the clock), strictly before *T*.

One thread gives a rep at most one follow-up: the oldest unanswered mail in it (the
customer who wrote twice has waited since the first). "No reply needed" acts as an
answer at the moment it was clicked: later customer mail in the thread starts anew.

``crmsync followups``, ``GET /api/v1/followups`` (the task pane) and the scheduler's
alerts all call :func:`open_followups` / :func:`followups_for`, so they cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, and_, exists, or_, select
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from crmsync.crm.conversations import find_conversation_keys
from crmsync.crm.export import iso_utc
from crmsync.crm.links import ActivityThreadKey
from crmsync.crm.models import (
    Account,
    Activity,
    ActivityLink,
    ActivityParticipant,
    ActivitySource,
    Base,
    Contact,
    ContactEmail,
    Mailbox,
    Opportunity,
    OpportunityContact,
    Setting,
    User,
    UtcDateTime,
)
from crmsync.crm.visibility import Viewer, sharing, visible_activities
from crmsync.crm.work_hours import calendar_of
from crmsync.errors import UserError
from crmsync.mapping.cases import first_response_due

#: customer mail older than this (before the instant asked about) is not followed up
LOOKBACK_DAYS = 30
HOURS_KEY = "followups.hours"
DEFAULT_HOURS = 12.0


class FollowupDismissal(Base):
    """A rep's "no reply needed" on a mail: clears its thread as an answer would, then."""

    __tablename__ = "followup_dismissals"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    dismissed_at: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class Followup:
    """One mail a rep owes an answer, with the records it concerns and when it was due."""

    rep: str
    activity_id: int
    subject: str
    internet_message_id: str | None
    received: datetime
    due: datetime
    contact: dict[str, Any]
    account: dict[str, Any] | None
    opportunity: dict[str, Any] | None

    def shape(self) -> dict[str, Any]:
        """The JSON shape of ``crmsync followups`` and ``GET /api/v1/followups``."""
        return {
            "id": self.activity_id, "rep": self.rep, "contact": self.contact,
            "account": self.account, "opportunity": self.opportunity,
            "mail": {"activity_id": self.activity_id, "subject": self.subject,
                     "internet_message_id": self.internet_message_id,
                     "received": iso_utc(self.received)},
            "due": iso_utc(self.due),
        }


@dataclass(frozen=True)
class _Candidate:
    activity_id: int
    received: datetime
    conversation: str
    subject: str
    internet_message_id: str | None
    contact_id: int


def followup_hours(session: Session) -> float:
    """The business hours a customer mail may wait (``followups.hours``, default 12)."""
    row = session.get(Setting, HOURS_KEY)
    try:
        return float(row.value) if row is not None and row.value else DEFAULT_HOURS
    except ValueError as exc:
        raise UserError(f"{HOURS_KEY}: not a number: {row.value!r}") from exc


def reps_with_customers(session: Session, email: str | None = None) -> list[User]:
    """Users who own an account or an open opportunity (``email``: only that one)."""
    owners = select(Account.owner_id).union(
        select(Opportunity.owner_id).where(Opportunity.is_closed.is_(False)))
    query = select(User).where(User.id.in_(owners)).order_by(User.email)
    if email is not None:
        query = query.where(User.email == email.strip().lower())
    return list(session.scalars(query))


def open_followups(session: Session, as_of: datetime, rep: str | None = None) -> list[Followup]:
    """Every rep's follow-ups at ``as_of`` (``rep``: one rep's, by address), due first."""
    found = [f for user in reps_with_customers(session, rep)
             for f in followups_for(session, user, as_of)]
    return sorted(found, key=lambda f: (f.due, f.rep, f.activity_id))


def followups_for(session: Session, user: User, as_of: datetime) -> list[Followup]:
    """``user``'s follow-ups at ``as_of``, due first (the module docstring's rule)."""
    candidates = _candidates(session, user, as_of)
    if not candidates:
        return []
    pending = _unanswered(session, user, candidates, as_of)
    hours = followup_hours(session)
    calendar = calendar_of(session, user.id)
    result = []
    for mail in pending:
        due = first_response_due(mail.received, hours, calendar)
        if due < as_of:
            result.append(_describe(session, user, mail, due))
    return sorted(result, key=lambda f: (f.due, f.activity_id))


def _customer_contacts(user: User) -> Any:
    """A subquery of the ids of the contacts on ``user``'s accounts and open deals."""
    on_accounts = select(Contact.id).join(Account, Account.id == Contact.account_id).where(
        Account.owner_id == user.id)
    on_deals = select(OpportunityContact.contact_id).join(
        Opportunity, Opportunity.id == OpportunityContact.opportunity_id).where(
        Opportunity.owner_id == user.id, Opportunity.is_closed.is_(False))
    return on_accounts.union(on_deals)


def _candidates(session: Session, user: User, as_of: datetime) -> list[_Candidate]:
    """Inbound mail from ``user``'s customers, written to them, they may see, no case."""
    sender = aliased(ActivityParticipant)
    recipient = aliased(ActivityParticipant)
    to_rep = exists(select(recipient.id).where(
        recipient.activity_id == Activity.id, recipient.role.in_(("to", "cc")),
        recipient.address == user.email.lower()))
    in_own_mailbox = exists(select(ActivitySource.id).join(
        Mailbox, Mailbox.id == ActivitySource.mailbox_id).where(
        ActivitySource.activity_id == Activity.id, Mailbox.owner_id == user.id,
        Mailbox.purpose != "support"))
    on_case = exists(select(ActivityLink.id).where(
        ActivityLink.activity_id == Activity.id, ActivityLink.case_id.is_not(None)))
    query = (
        select(Activity.id, Activity.occurred_at, Activity.conversation, Activity.subject,
               Activity.internet_message_id, ContactEmail.contact_id)
        .join(sender, and_(sender.activity_id == Activity.id, sender.role == "from"))
        .join(ContactEmail, ContactEmail.address == sender.address)
        .where(Activity.kind == "email", Activity.direction == "inbound",
               Activity.occurred_at <= as_of,
               Activity.occurred_at > as_of - timedelta(days=LOOKBACK_DAYS),
               ContactEmail.contact_id.in_(_customer_contacts(user)),
               or_(to_rep, in_own_mailbox), ~on_case, visible_activities())
        .order_by(Activity.occurred_at, Activity.id)
    )
    params = Viewer.of(user, sharing(session)).seen_by
    seen: dict[int, _Candidate] = {}
    for row in session.execute(query, params):
        seen.setdefault(row[0], _Candidate(*row))
    return list(seen.values())


def _unanswered(session: Session, user: User, candidates: list[_Candidate],
                as_of: datetime) -> list[_Candidate]:
    """The oldest unanswered candidate of each thread (the docstring's point 4)."""
    answers = _answer_times(session, user, {c.conversation for c in candidates}, as_of)
    waiting = [c for c in candidates
               if not any(c.received <= t for t in answers.get(c.conversation, ()))]
    oldest: dict[str, _Candidate] = {}
    for mail in waiting:  # ordered by arrival, so the first of a thread is its oldest
        if mail.conversation not in oldest and not _answered_by_keys(session, mail, as_of):
            oldest[mail.conversation] = mail
    return list(oldest.values())


def _answer_times(session: Session, user: User, conversations: set[str],
                  as_of: datetime) -> dict[str, list[datetime]]:
    """Per conversation: when someone of the organization wrote in it, or ``user``
    marked it "no reply needed", up to ``as_of``."""
    times: dict[str, list[datetime]] = defaultdict(list)
    keys = sorted(k for k in conversations if k)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        replies = session.execute(
            select(Activity.conversation, Activity.occurred_at).where(
                Activity.conversation.in_(chunk), Activity.kind == "email",
                Activity.direction == "outbound", Activity.occurred_at <= as_of))
        dismissed = session.execute(
            select(Activity.conversation, FollowupDismissal.dismissed_at)
            .join(Activity, Activity.id == FollowupDismissal.activity_id)
            .where(FollowupDismissal.user_id == user.id, Activity.conversation.in_(chunk),
                   FollowupDismissal.dismissed_at <= as_of))
        for conversation, moment in [*replies, *dismissed]:
            times[conversation].append(moment)
    return times


def _answered_by_keys(session: Session, mail: _Candidate, as_of: datetime) -> bool:
    """Whether an outgoing mail the thread keys join to ``mail`` (but filed under another
    conversation, e.g. a reply naming it only in In-Reply-To) answered it by ``as_of``."""
    own = set(session.scalars(
        select(ActivityThreadKey.key).where(ActivityThreadKey.activity_id == mail.activity_id)))
    joined = set(find_conversation_keys(session, own)) - {mail.activity_id}
    if not joined:
        return False
    return session.scalar(select(Activity.id).where(
        Activity.id.in_(sorted(joined)), Activity.kind == "email",
        Activity.direction == "outbound", Activity.occurred_at >= mail.received,
        Activity.occurred_at <= as_of).limit(1)) is not None


def _describe(session: Session, user: User, mail: _Candidate, due: datetime) -> Followup:
    """The follow-up of ``mail``: its contact, the contact's account and the rep's deal."""
    contact = session.get(Contact, mail.contact_id)
    assert contact is not None
    address = session.scalar(select(ContactEmail.address).where(
        ContactEmail.contact_id == contact.id).order_by(ContactEmail.id).limit(1))
    account = contact.account
    return Followup(
        rep=user.email, activity_id=mail.activity_id, subject=mail.subject,
        internet_message_id=mail.internet_message_id, received=mail.received, due=due,
        contact={"external_id": contact.external_id, "name": contact.full_name,
                 "email": address},
        account={"external_id": account.external_id, "name": account.name} if account else None,
        opportunity=_deal(session, user, mail, contact),
    )


def _deal(session: Session, user: User, mail: _Candidate, contact: Contact) -> dict | None:
    """The rep's open deal the mail is about: the one it is linked to, else one the
    contact is on, else one of the contact's account; ``None`` when there is none."""
    mine = and_(Opportunity.owner_id == user.id, Opportunity.is_closed.is_(False))
    linked = select(Opportunity).join(ActivityLink, ActivityLink.opportunity_id == Opportunity.id
                                      ).where(ActivityLink.activity_id == mail.activity_id, mine)
    on_deal = select(Opportunity).join(
        OpportunityContact, OpportunityContact.opportunity_id == Opportunity.id).where(
        OpportunityContact.contact_id == contact.id, mine)
    of_account = select(Opportunity).where(Opportunity.account_id == contact.account_id, mine)
    for query in (linked, on_deal, of_account):
        deal = session.scalars(query.order_by(Opportunity.id).limit(1)).first()
        if deal is not None:
            return {"external_id": deal.external_id, "name": deal.name, "stage": deal.stage}
    return None


def dismiss(session: Session, user: User, activity_id: int, now: datetime) -> bool:
    """Mark ``user``'s follow-up on mail ``activity_id`` "no reply needed" at ``now``.

    :returns: ``False`` (nothing stored) when it is not one of ``user``'s open follow-ups
        at ``now``: someone else's, answered, not due, or a mail they may not see.
    """
    if not any(f.activity_id == activity_id for f in followups_for(session, user, now)):
        return False
    row = session.get(FollowupDismissal, (user.id, activity_id))
    if row is None:
        session.add(FollowupDismissal(user_id=user.id, activity_id=activity_id, dismissed_at=now))
    else:
        row.dismissed_at = now
    session.flush()
    return True
