"""A record's newest activities, at a cost that does not grow with its history.

Each link carries its activity's ``occurred_at`` (kept by the triggers of migration
0070) and every target column has a ``(target, occurred_at)`` index, so "the newest N
links of a target" reads N index entries whether the target has 5 activities or
50,000. A request asks for one or more *arms* (the sender lookup: the contact's and
the account's) in one statement: each arm's newest N links, their union (an activity
linked to several targets counts once), then only those N activities.

The statements are built once per shape, with bind parameters for the ids: the sender
lookup is the hottest read of the API, and building and hashing a SQLAlchemy
expression per request cost more than the SQL.

Only what the viewer may see is listed (:mod:`crmsync.crm.visibility`, bound per request
as parameters of the same cached statement): each arm skips, as it walks its index newest
first, the links of activities the viewer may not see, so the statement count stays flat
and an arm still reads only as far back as its answer needs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, exists, select, union
from sqlalchemy.orm import Session

from crmsync.crm.models import Activity, ActivityLink, Contact
from crmsync.crm.visibility import visible_activities

#: arm name → the links it selects; each binds the parameter named like the arm's
#: record kind ("account_contacts": the links of an account's contacts)
ARMS: dict[str, ColumnElement[bool]] = {
    "contact": ActivityLink.contact_id == bindparam("contact"),
    "account": ActivityLink.account_id == bindparam("account"),
    "opportunity": ActivityLink.opportunity_id == bindparam("opportunity"),
    "case": ActivityLink.case_id == bindparam("case"),
    "account_contacts": ActivityLink.contact_id.in_(
        select(Contact.id).where(Contact.account_id == bindparam("account"))
    ),
}
#: what a list of activities shows (rows, not ORM objects: a body can be 100s of KB)
SUMMARY = (Activity.id, Activity.kind, Activity.subject, Activity.occurred_at,
           Activity.direction)

ActivitySummary = Row[tuple[int, str, str, datetime, str]]


def _seen(filtered: bool) -> list[ColumnElement[bool]]:
    """The condition on a link that its activity is visible (none when unfiltered)."""
    if not filtered:
        return []
    return [exists(select(Activity.id).where(Activity.id == ActivityLink.activity_id,
                                             visible_activities()))]


def _newest_links(arm: str, limit: int, floored: bool, filtered: bool
                  ) -> Select[tuple[int, datetime | None]]:
    query = select(ActivityLink.activity_id, ActivityLink.occurred_at).where(
        ARMS[arm], *_seen(filtered))
    if floored:
        query = query.where(ActivityLink.occurred_at >= bindparam("floor"))
    return query.order_by(
        ActivityLink.occurred_at.desc(), ActivityLink.activity_id.desc()
    ).limit(limit)


@functools.cache
def _statement(arms: tuple[str, ...], limit: int, floored: bool, filtered: bool) -> Select:
    selects = [select(sub.c.activity_id, sub.c.occurred_at) for sub in (
        _newest_links(arm, limit, floored, filtered).subquery() for arm in arms)]
    newest = (selects[0] if len(selects) == 1 else union(*selects)).subquery("newest")
    return (
        select(*SUMMARY).join(newest, Activity.id == newest.c.activity_id)
        .order_by(newest.c.occurred_at.desc(), Activity.id.desc()).limit(limit)
    )


@functools.cache
def _times_statement(arm: str, limit: int, filtered: bool) -> Select[tuple[datetime | None]]:
    return (select(ActivityLink.occurred_at).where(ARMS[arm], *_seen(filtered))
            .order_by(ActivityLink.occurred_at.desc()).limit(limit))


def newest_activities(
    session: Session, arms: Sequence[str], ids: Mapping[str, int], limit: int,
    floor: datetime | None = None, *, seen_by: Mapping[str, Any] | None,
) -> list[ActivitySummary]:
    """The ``limit`` newest activities linked through any of ``arms``, newest first.

    One statement. ``ids``: the record ids the arms bind (``{"contact": 7}``).
    ``floor``: skip links older than this (the caller knows the answer is that new).
    ``seen_by``: the viewer's
    :func:`~crmsync.crm.visibility.viewer_params`; ``None`` lists everything (only for
    code that acts for the organization, never for a person's request).
    """
    if not arms:
        return []
    params = {**ids, **(seen_by or {})}
    if floor is not None:
        params["floor"] = floor
    statement = _statement(tuple(arms), limit, floor is not None, seen_by is not None)
    return list(session.execute(statement, params))


def timeline_activities(session: Session, kind: str, record_id: int, limit: int, *,
                        seen_by: Mapping[str, Any] | None) -> list[ActivitySummary]:
    """A record's newest activities; an account's include its contacts' (two statements).

    An account's contacts may be many, and one busy contact may hold most of the
    account's mail, so the contacts' links are read only back to the ``limit``-th
    newest of the account's own links when it has that many (the answer cannot reach
    further back).
    """
    ids = {kind: record_id}
    if kind != "account":
        return newest_activities(session, [kind], ids, limit, seen_by=seen_by)
    times = session.scalars(_times_statement("account", limit, seen_by is not None),
                            {**ids, **(seen_by or {})}).all()
    floor = times[-1] if len(times) == limit else None
    return newest_activities(session, ["account", "account_contacts"], ids, limit, floor,
                             seen_by=seen_by)
