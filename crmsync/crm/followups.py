"""Follow-ups for reps: the one rule that decides which customer mail waits for an answer.

A rep *R* has a follow-up on a mail *M* at an instant *T* when all of these hold:

1. *M* is an inbound mail received at or before *T*, within :data:`LOOKBACK_DAYS` of it,
   whose sender (From) is a contact on one of *R*'s accounts (the account's owner is *R*)
   or on one of *R*'s open opportunities (an opportunity contact of a deal *R* owns);
2. *M* was written to *R*: *R* is in its To or Cc, or a copy sits in a (personal, not
   support) mailbox *R* owns;
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

One thread gives a rep at most one follow-up: its oldest overdue unanswered mail (the
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
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, selectinload

from crmsync.crm.conversations import REF, chunks, find_conversation_keys
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
    answers = _answer_times(session, user, {c.conversation for c in candidates}, as_of)
    hours, calendar = followup_hours(session), calendar_of(session, user.id)
    overdue: list[tuple[_Candidate, datetime]] = []
    for mail in candidates:  # by arrival: a thread's first waiting mail is its oldest
        if any(mail.received <= t for t in answers.get(mail.conversation, ())):
            continue
        due = first_response_due(mail.received, hours, calendar)
        if due < as_of:
            overdue.append((mail, due))
    answered = _answered_by_keys(session, [m for m, _ in overdue], as_of) if overdue else set()
    decided: set[str] = set()
    found = []
    for mail, due in overdue:
        if mail.conversation not in decided and mail.activity_id not in answered:
            decided.add(mail.conversation)
            found.append((mail, due))
    return sorted(_describe(session, user, found), key=lambda f: (f.due, f.activity_id))


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


def _answered_by_keys(session: Session, mails: list[_Candidate], as_of: datetime) -> set[int]:
    """Which of ``mails`` an outgoing mail answered by ``as_of`` that the thread keys join
    to them but that is filed under another conversation (a reply naming it only in
    In-Reply-To, say); the activity ids.

    One search for all of them (:func:`find_conversation_keys` from every mail's own
    keys); the mails found fall into threads by the keys they share, as the search joins
    them (``<id>`` with ``ref:<id>``).
    """
    own: dict[int, set[str]] = defaultdict(set)
    for chunk in chunks(sorted(m.activity_id for m in mails)):
        for activity_id, key in session.execute(select(
                ActivityThreadKey.activity_id, ActivityThreadKey.key).where(
                ActivityThreadKey.activity_id.in_(chunk))):
            own[activity_id].add(key)
    found = find_conversation_keys(session, {k for keys in own.values() for k in keys})
    found.update((i, keys) for i, keys in own.items() if i not in found)
    thread = _threads(found)
    replies: dict[int, list[datetime]] = defaultdict(list)
    for chunk in chunks(sorted(found)):
        for activity_id, at in session.execute(select(Activity.id, Activity.occurred_at).where(
                Activity.id.in_(chunk), Activity.kind == "email",
                Activity.direction == "outbound", Activity.occurred_at <= as_of)):
            replies[thread[activity_id]].append(at)
    return {m.activity_id for m in mails
            if any(at >= m.received for at in replies.get(thread[m.activity_id], ()))}


def _threads(keys: dict[int, set[str]]) -> dict[int, int]:
    """Activity id → a thread id: activities sharing a key (``ref:`` stripped) share it."""
    parent = {activity_id: activity_id for activity_id in keys}

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    holder: dict[str, int] = {}
    for activity_id, held in keys.items():
        for key in held:
            bare = key if key.startswith("conv:") else key.removeprefix(REF)
            if bare in holder:
                parent[root(activity_id)] = root(holder[bare])
            else:
                holder[bare] = activity_id
    return {activity_id: root(activity_id) for activity_id in keys}


def _describe(session: Session, user: User,
              found: list[tuple[_Candidate, datetime]]) -> list[Followup]:
    """The follow-ups of ``found`` (mail, due): each with its contact, the contact's
    account and the rep's deal (:func:`_deal`), loaded in a few queries for all of them."""
    contacts: dict[int, Contact] = {}
    for chunk in chunks(sorted({mail.contact_id for mail, _ in found})):
        contacts.update((c.id, c) for c in session.scalars(
            select(Contact).options(selectinload(Contact.account), selectinload(Contact.emails))
            .where(Contact.id.in_(chunk))))
    deals = _Deals.of(session, user, [mail.activity_id for mail, _ in found])
    result = []
    for mail, due in found:
        contact = contacts[mail.contact_id]
        address = min(contact.emails, key=lambda e: e.id).address if contact.emails else None
        account = contact.account
        result.append(Followup(
            rep=user.email, activity_id=mail.activity_id, subject=mail.subject,
            internet_message_id=mail.internet_message_id, received=mail.received, due=due,
            contact={"external_id": contact.external_id, "name": contact.full_name,
                     "email": address},
            account={"external_id": account.external_id, "name": account.name}
            if account else None,
            opportunity=deals.about(mail.activity_id, contact),
        ))
    return result


@dataclass(frozen=True)
class _Deals:
    """The rep's open deals, and which of them the mails link to and the contacts are on."""

    open: dict[int, Opportunity]
    linked: dict[int, list[int]]
    on_deal: dict[int, list[int]]

    @classmethod
    def of(cls, session: Session, user: User, activity_ids: list[int]) -> _Deals:
        deals = {o.id: o for o in session.scalars(select(Opportunity).where(
            Opportunity.owner_id == user.id, Opportunity.is_closed.is_(False)))}
        linked: dict[int, list[int]] = defaultdict(list)
        on_deal: dict[int, list[int]] = defaultdict(list)
        if deals:
            for chunk in chunks(sorted(activity_ids)):
                for activity_id, deal_id in session.execute(
                        select(ActivityLink.activity_id, ActivityLink.opportunity_id).where(
                            ActivityLink.activity_id.in_(chunk),
                            ActivityLink.opportunity_id.in_(sorted(deals)))):
                    linked[activity_id].append(deal_id)
            for contact_id, deal_id in session.execute(
                    select(OpportunityContact.contact_id, OpportunityContact.opportunity_id)
                    .where(OpportunityContact.opportunity_id.in_(sorted(deals)))):
                on_deal[contact_id].append(deal_id)
        return cls(deals, linked, on_deal)

    def about(self, activity_id: int, contact: Contact) -> dict[str, Any] | None:
        """The rep's open deal the mail is about: the one it is linked to, else one the
        contact is on, else one of the contact's account; ``None`` when there is none."""
        of_account = [i for i, o in self.open.items() if o.account_id == contact.account_id]
        for ids in (self.linked.get(activity_id, []), self.on_deal.get(contact.id, []),
                    of_account):
            if ids:
                deal = self.open[min(ids)]
                return {"external_id": deal.external_id, "name": deal.name,
                        "stage": deal.stage}
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
