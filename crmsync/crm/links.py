"""How an activity is linked, besides the links themselves: what a person decided and what
automation found.

A person's decisions outlive the sync that follows them: "link this draft when it
is sent" (:class:`TrackIntent`) waits for the mail to reach Sent Items, and "this
mail does not belong to that record" (:class:`LinkRemoval`) keeps automation from
linking it again. Automation leaves :class:`LinkSuggestion` rows where it could not tell
which opportunity, and :class:`ActivityThreadKey` rows by which replies find their thread.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmsync.crm.models import Activity, Base, UtcDateTime

#: exactly one of the four typed target columns is set (no generic foreign key)
EXACTLY_ONE_TARGET = (
    "(CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END"
    " + CASE WHEN account_id IS NULL THEN 0 ELSE 1 END"
    " + CASE WHEN opportunity_id IS NULL THEN 0 ELSE 1 END"
    " + CASE WHEN case_id IS NULL THEN 0 ELSE 1 END) = 1"
)

#: an intent names its draft or meeting somehow
HAS_KEY = (
    "conversation_id IS NOT NULL OR internet_message_id IS NOT NULL OR item_id IS NOT NULL"
    " OR rest_item_id IS NOT NULL OR ical_uid IS NOT NULL OR send_token IS NOT NULL"
)

class TrackIntent(Base):
    """"Link this mail to that record once it is sent", from the compose pane.

    Keyed by what Outlook knows about a draft: its conversation id and, when known,
    its internet message id; or by the opaque ``send_token`` the pane writes into the
    draft's ``X-CRMSync-Track`` header, which survives into the Sent copy on any mail
    system (IMAP has no conversation id). A page hook fulfils it when a matching
    outbound mail is stored, inside the page's transaction.

    For a meeting the key is Outlook's item id (as Office.js gives it, and converted to
    the REST/Graph form) or its iCalendar UID; the meeting is linked when it is stored.
    """

    __tablename__ = "track_intents"
    __table_args__ = (
        CheckConstraint(EXACTLY_ONE_TARGET, name="exactly_one_target"),
        CheckConstraint(HAS_KEY, name="has_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[str | None] = mapped_column(String(1000), index=True)
    internet_message_id: Mapped[str | None] = mapped_column(String(1000), index=True)
    item_id: Mapped[str | None] = mapped_column(String(1000), index=True)
    #: the meeting's item id in REST/Graph form (``convertToRestId``), when it differs
    rest_item_id: Mapped[str | None] = mapped_column(String(1000), index=True)
    ical_uid: Mapped[str | None] = mapped_column(String(1000), index=True)
    #: the value the pane put in the draft's ``X-CRMSync-Track`` header (random, opaque)
    send_token: Mapped[str | None] = mapped_column(String(64), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE")
    )
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: set when a sent mail was linked; the activity it was linked to
    fulfilled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    activity_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL")
    )


class LinkRemoval(Base):
    """A person removed the link of an activity to a record: automation never re-adds it.

    Invariant: while this row exists, no ``ActivityLink(source="auto")`` joins the
    activity to the target; a person tracking it again deletes this row.
    """

    __tablename__ = "link_removals"
    __table_args__ = (CheckConstraint(EXACTLY_ONE_TARGET, name="exactly_one_target"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE")
    )
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    removed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LinkSuggestion(Base):
    """An opportunity a mail may concern, when automation could not tell which one."""

    __tablename__ = "link_suggestions"
    __table_args__ = (UniqueConstraint("activity_id", "opportunity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    rank: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    activity: Mapped[Activity] = relationship()


class ActivityThreadKey(Base):
    """A key under which later mails find this activity's conversation.

    Its own Message-ID and ``conv:<provider conversation id>``; replies look up the ids in
    their In-Reply-To/References. Never the subject.
    """

    __tablename__ = "activity_thread_keys"
    __table_args__ = (UniqueConstraint("activity_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(1000), index=True)
