"""Relationship signals per account: how recently and how often it really talks with us.

An **exchange** is a mail or a meeting linked to the account (at or before the instant
asked about, *T*):

- a mail counts when it is two-way: inbound or outbound, in a conversation (the stored
  ``Activity.conversation``) of the account that holds mail in both directions, so a
  newsletter nobody answered or an unanswered cold mail is no exchange;
- a meeting counts as it is (a booked meeting is two-way by nature).

For each account:

- **recency**: the last exchange (within :data:`RECENCY_DAYS`) and the whole days since;
- **frequency**: exchanged mails and meetings in the last 30 and 90 days;
- **going quiet**: the account was active — exchanges on at least :data:`MIN_ACTIVE_DAYS`
  distinct days in the :data:`HISTORY_DAYS` (180) before *T* — and has now been silent
  for longer than :data:`QUIET_FACTOR` (3) times its own median gap between those days,
  and at least :data:`MIN_QUIET_DAYS` (7). An account that talks daily goes quiet after
  a week; one that talks monthly after three months; one with too little history never.

Days are UTC calendar days, so a burst of mail on one day is one day of exchange. Every
count is taken over the activities the viewer may see
(:func:`crmsync.crm.visibility.visible_activities`): a rep's numbers come only from mail
and meetings they could open. Without a viewer (an admin's report) every activity counts.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.export import iso_utc
from crmsync.crm.models import Account, Activity, ActivityLink, User
from crmsync.crm.visibility import visible_activities

RECENCY_DAYS = 365
HISTORY_DAYS = 180
MIN_ACTIVE_DAYS = 5
QUIET_FACTOR = 3.0
MIN_QUIET_DAYS = 7
#: account ids per IN (...) list
CHUNK = 500


@dataclass(frozen=True)
class _Event:
    kind: str
    direction: str
    conversation: str
    at: datetime


@dataclass(frozen=True)
class Signals:
    """One account's signals at one instant (see the module docstring)."""

    last_exchange: datetime | None
    days_since: int | None
    mails_30d: int
    mails_90d: int
    meetings_30d: int
    meetings_90d: int
    active_days_180d: int
    median_gap_days: float | None
    going_quiet: bool

    def shape(self) -> dict[str, Any]:
        return {
            "last_exchange": iso_utc(self.last_exchange), "days_since": self.days_since,
            "mails_30d": self.mails_30d, "mails_90d": self.mails_90d,
            "meetings_30d": self.meetings_30d, "meetings_90d": self.meetings_90d,
            "active_days_180d": self.active_days_180d, "median_gap_days": self.median_gap_days,
            "going_quiet": self.going_quiet,
        }


def account_signals(session: Session, account_ids: Iterable[int], as_of: datetime,
                    seen_by: Mapping[str, Any] | None) -> dict[int, Signals]:
    """Signals of each of ``account_ids`` at ``as_of``.

    :param seen_by: the viewer's bind values (:func:`~crmsync.crm.visibility.viewer_params`);
        ``None`` counts every activity (for the organization's report).
    """
    events = _events(session, sorted(set(account_ids)), as_of, seen_by)
    return {account_id: signals_of(events.get(account_id, []), as_of)
            for account_id in set(account_ids)}


def _events(session: Session, account_ids: list[int], as_of: datetime,
            seen_by: Mapping[str, Any] | None) -> dict[int, list[_Event]]:
    found: dict[int, list[_Event]] = defaultdict(list)
    since = as_of - timedelta(days=RECENCY_DAYS)
    for start in range(0, len(account_ids), CHUNK):
        query = (
            select(ActivityLink.account_id, Activity.kind, Activity.direction,
                   Activity.conversation, Activity.occurred_at)
            .join(Activity, Activity.id == ActivityLink.activity_id)
            .where(ActivityLink.account_id.in_(account_ids[start:start + CHUNK]),
                   Activity.occurred_at <= as_of, Activity.occurred_at > since,
                   Activity.kind.in_(("email", "meeting")))
            .distinct()
        )
        if seen_by is not None:
            query = query.where(visible_activities())
        for account_id, *row in session.execute(query, dict(seen_by or {})):
            found[account_id].append(_Event(*row))
    return found


def signals_of(events: list[_Event], as_of: datetime) -> Signals:
    """The signals of one account's linked mails and meetings (pure: the rule itself)."""
    directions: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.kind == "email":
            directions[event.conversation].add(event.direction)
    two_way = {c for c, seen in directions.items() if {"inbound", "outbound"} <= seen}
    exchanges = sorted(e for e in (
        (event.at, event.kind) for event in events
        if event.kind == "meeting"
        or (event.direction in ("inbound", "outbound") and event.conversation in two_way)))

    def count(kind: str, days: int) -> int:
        return sum(1 for at, k in exchanges if k == kind and at > as_of - timedelta(days=days))

    last = exchanges[-1][0] if exchanges else None
    days = sorted({at.date() for at, _ in exchanges if at > as_of - timedelta(days=HISTORY_DAYS)})
    median = _median_gap(days)
    since = (as_of - last).days if last is not None else None
    quiet = (len(days) >= MIN_ACTIVE_DAYS and median is not None and since is not None
             and (as_of - last) > timedelta(days=max(QUIET_FACTOR * median, MIN_QUIET_DAYS)))
    return Signals(last, since, count("email", 30), count("email", 90), count("meeting", 30),
                   count("meeting", 90), len(days), median, quiet)


def _median_gap(days: list[date]) -> float | None:
    gaps = [(later - earlier).days for earlier, later in zip(days, days[1:], strict=False)]
    return float(statistics.median(gaps)) if gaps else None


def accounts_report(session: Session, as_of: datetime,
                    seen_by: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every account with its signals (``crmsync report accounts``), by name."""
    accounts = session.execute(
        select(Account.id, Account.external_id, Account.name, User.email)
        .outerjoin(User, User.id == Account.owner_id).order_by(Account.name, Account.id)).all()
    signals = account_signals(session, [a.id for a in accounts], as_of, seen_by)
    return [{"account": {"external_id": a.external_id, "name": a.name}, "owner": a.email,
             **signals[a.id].shape()} for a in accounts]
