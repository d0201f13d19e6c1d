"""booked meetings: meetings booked in the CRM and their events in the owner's calendar

Revision ID: 0090
Revises: 0087
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0090"
down_revision: str | None = "0087"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "booked_meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tzid", sa.String(length=64), nullable=False),
        sa.Column("attendees", sa.JSON(), nullable=False),
        sa.Column("weekly_count", sa.Integer(), nullable=True),
        sa.Column("invite", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("crm_times", sa.JSON(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=False),
        sa.Column("agreed", sa.JSON(), nullable=True),
        sa.Column("remote_id", sa.String(length=500), nullable=True),
        sa.Column("change_key", sa.String(length=500), nullable=True),
        sa.Column("remote_uid", sa.String(length=1000), nullable=True),
        sa.Column("create_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("calendar_changed", sa.Boolean(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activities.id"], ondelete="CASCADE",
                                name=op.f("fk_booked_meetings_activity_id_activities")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"],
                                name=op.f("fk_booked_meetings_owner_id_users")),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"],
                                name=op.f("fk_booked_meetings_mailbox_id_mailboxes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booked_meetings")),
        sa.UniqueConstraint("activity_id", name=op.f("uq_booked_meetings_activity_id")),
    )
    op.create_index(op.f("ix_booked_meetings_owner_id"), "booked_meetings", ["owner_id"])
    op.create_index(op.f("ix_booked_meetings_mailbox_id"), "booked_meetings", ["mailbox_id"])
    op.create_index(op.f("ix_booked_meetings_remote_id"), "booked_meetings", ["remote_id"])
    op.create_table(
        "booked_occurrences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("original_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("remote_id", sa.String(length=500), nullable=True),
        sa.Column("change_key", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["meeting_id"], ["booked_meetings.id"], ondelete="CASCADE",
                                name=op.f("fk_booked_occurrences_meeting_id_booked_meetings")),
        sa.ForeignKeyConstraint(["activity_id"], ["activities.id"], ondelete="CASCADE",
                                name=op.f("fk_booked_occurrences_activity_id_activities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booked_occurrences")),
        sa.UniqueConstraint("meeting_id", "original_start",
                            name=op.f("uq_booked_occurrences_meeting_id")),
        sa.UniqueConstraint("activity_id", name=op.f("uq_booked_occurrences_activity_id")),
    )
    op.create_index(op.f("ix_booked_occurrences_meeting_id"), "booked_occurrences",
                    ["meeting_id"])
    op.create_index(op.f("ix_booked_occurrences_remote_id"), "booked_occurrences",
                    ["remote_id"])


def downgrade() -> None:
    op.drop_table("booked_occurrences")
    op.drop_table("booked_meetings")
