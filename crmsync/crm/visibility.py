"""Who sees an activity: one rule, as one SQL condition every read and write goes through.

A user sees an activity when it came from a mailbox they own, or, by the organization's
sharing setting (``crmsync org set-sharing``), from a teammate's mailbox (``team``, the
default) or anyone's (``everyone``); ``private`` shares nothing. Mail of support mailboxes
is seen by agents, admins and managers. A private item (marked private, personal or
confidential, captured only when an admin allows it) is seen only by the owners of the
mailboxes holding it. An activity no mailbox captured (imported from files by an admin)
belongs to the organization: everyone sees it, and only admins when it is private.

An activity's mailboxes are the one that first captured it (``owner_mailbox_id``, kept
when that copy is deleted) and those of its other copies (``activity_sources``).

The condition (:func:`visible_activities`) is built once with bind parameters for the
viewer, so cached statements (the sender lookup's) stay cached; :func:`viewer_params`
gives the values for one viewer. Quarantined items follow the same rule
(:func:`visible_quarantine`): the mailbox that fetched one decides who sees it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, literal, or_, select
from sqlalchemy.orm import Session, aliased

from crmsync.crm.models import Activity, ActivitySource, Mailbox, QuarantinedItem, Setting, User
from crmsync.errors import UserError
from crmsync.mapping.privacy import PRIVATE

SHARING_SETTING = "sharing"
SHARING_CHOICES = ("private", "team", "everyone")
DEFAULT_SHARING = "team"
#: roles that read what support mailboxes receive
SUPPORT_READERS = frozenset({"agent", "admin", "manager"})


@dataclass(frozen=True)
class Viewer:
    """The CRM user a request or command acts for."""

    id: int
    email: str
    name: str
    role: str
    team_id: int | None
    #: the organization's sharing setting when the request began
    sharing: str = DEFAULT_SHARING

    @classmethod
    def of(cls, user: User, sharing_setting: str = DEFAULT_SHARING) -> Viewer:
        return cls(user.id, user.email, user.name, user.role, user.team_id, sharing_setting)

    @property
    def seen_by(self) -> dict[str, Any]:
        """The bind values of :func:`visible_activities` for this viewer."""
        return viewer_params(self, self.sharing)


def sharing(session: Session) -> str:
    """The organization's sharing setting (``team`` until an admin sets it)."""
    stored = session.get(Setting, SHARING_SETTING)
    return stored.value if stored and stored.value in SHARING_CHOICES else DEFAULT_SHARING


def set_sharing(session: Session, value: str) -> None:
    if value not in SHARING_CHOICES:
        raise UserError(f"sharing must be one of {', '.join(SHARING_CHOICES)}")
    row = session.get(Setting, SHARING_SETTING) or Setting(key=SHARING_SETTING)
    row.value = value
    session.add(row)


def viewer_params(viewer: Viewer, sharing_setting: str) -> dict[str, Any]:
    """The bind values of :func:`visible_activities` for ``viewer``."""
    return {
        "viewer_id": viewer.id,
        "viewer_team_id": viewer.team_id if viewer.team_id is not None else -1,
        "sharing": sharing_setting,
        "reads_support": viewer.role in SUPPORT_READERS,
        "is_admin": viewer.role == "admin",
    }


def _mailbox_of_activity(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether one of the activity's mailboxes meets ``condition`` (on :class:`Mailbox`)."""
    first = exists(select(Mailbox.id).where(Mailbox.id == Activity.owner_mailbox_id, condition))
    copies = exists(
        select(ActivitySource.id).join(Mailbox, Mailbox.id == ActivitySource.mailbox_id)
        .where(ActivitySource.activity_id == Activity.id, condition)
    )
    return or_(first, copies)


def _shared_mailbox(mailbox: Any = Mailbox) -> ColumnElement[bool]:
    """A condition on ``mailbox`` (:class:`Mailbox` or an alias of it): the viewer in the
    bind values sees what it holds (their own; a teammate's or anyone's, by sharing; a
    support mailbox's, by role)."""
    teammate = and_(
        bindparam("sharing") == literal("team"),
        mailbox.owner_id.in_(select(User.id).where(User.team_id == bindparam("viewer_team_id"))),
    )
    return or_(mailbox.owner_id == bindparam("viewer_id"), teammate,
               bindparam("sharing") == literal("everyone"),
               and_(mailbox.purpose == "support", bindparam("reads_support") == literal(True)))


@functools.cache
def visible_activities() -> ColumnElement[bool]:
    """A WHERE condition on :class:`Activity`: what the viewer in the bind values sees.

    Bind with :func:`viewer_params` (``statement.params(...)``, or as execute parameters).
    """
    own = Mailbox.owner_id == bindparam("viewer_id")
    shared = _shared_mailbox()
    organization = and_(
        Activity.owner_mailbox_id.is_(None),
        ~exists(select(ActivitySource.id).where(ActivitySource.activity_id == Activity.id,
                                                ActivitySource.mailbox_id.is_not(None))),
    )
    private = Activity.sensitivity == PRIVATE
    return or_(
        and_(~private, or_(organization, _mailbox_of_activity(shared))),
        and_(private, or_(_mailbox_of_activity(own),
                          and_(organization, bindparam("is_admin") == literal(True)))),
    )


@functools.cache
def visible_quarantine() -> ColumnElement[bool]:
    """A WHERE condition on :class:`QuarantinedItem`: the items the viewer in the bind
    values sees (bound like :func:`visible_activities`).

    An item fetched from a mailbox is seen by whoever sees that mailbox's mail; one
    without a mailbox (imported from files) belongs to the organization. Whether the
    item is private cannot be known before it is parsed: :func:`reads_private_text`
    decides about its text.
    """
    # An alias, so a query that joins the item's mailbox does not correlate with it.
    mailbox = aliased(Mailbox, name="seen_mailbox")
    return or_(
        QuarantinedItem.mailbox_id.is_(None),
        exists(select(mailbox.id).where(mailbox.id == QuarantinedItem.mailbox_id,
                                        _shared_mailbox(mailbox))),
    )


def reads_private_text(viewer: Viewer, mailbox: Mailbox | None) -> bool:
    """Whether ``viewer`` may read a private item's text: the owner of the mailbox
    holding it, or an admin for an item no mailbox holds (as :func:`visible_activities`)."""
    if mailbox is not None:
        return mailbox.owner_id is not None and mailbox.owner_id == viewer.id
    return viewer.role == "admin"
