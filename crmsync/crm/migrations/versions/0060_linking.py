"""linking: suggestions, thread keys, privacy rules, suppression, meetings, feed tokens

Revision ID: 0060
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0060"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("linking",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("removed", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_records")),
    )
    op.create_index(
        op.f("ix_erasure_records_address_hash"), "erasure_records", ["address_hash"], unique=False
    )
    op.create_table(
        "suppressed_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressed_addresses")),
        sa.UniqueConstraint("address_hash", name=op.f("uq_suppressed_addresses_address_hash")),
    )
    op.create_table(
        "activity_thread_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_activity_thread_keys_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_thread_keys")),
        sa.UniqueConstraint("activity_id", "key", name=op.f("uq_activity_thread_keys_activity_id")),
    )
    op.create_index(
        op.f("ix_activity_thread_keys_activity_id"),
        "activity_thread_keys",
        ["activity_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_activity_thread_keys_key"), "activity_thread_keys", ["key"], unique=False
    )
    op.create_table(
        "meeting_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("partstat", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_meeting_responses_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_responses")),
        sa.UniqueConstraint(
            "activity_id", "address", name=op.f("uq_meeting_responses_activity_id")
        ),
    )
    op.create_index(
        op.f("ix_meeting_responses_activity_id"), "meeting_responses", ["activity_id"], unique=False
    )
    op.create_index(
        op.f("ix_meeting_responses_address"), "meeting_responses", ["address"], unique=False
    )
    op.create_table(
        "meeting_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("ical_uid", sa.String(length=1000), nullable=False),
        sa.Column("rrule", sa.Text(), nullable=True),
        sa.Column("tzid", sa.String(length=200), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("ical", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_meeting_series_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_series")),
        sa.UniqueConstraint("activity_id", name=op.f("uq_meeting_series_activity_id")),
    )
    op.create_index(
        op.f("ix_meeting_series_ical_uid"), "meeting_series", ["ical_uid"], unique=False
    )
    op.create_table(
        "feed_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_feed_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_feed_tokens_token_hash")),
    )
    op.create_table(
        "meeting_occurrences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("recurrence_id", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["meeting_series.id"],
            name=op.f("fk_meeting_occurrences_series_id_meeting_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_occurrences")),
        sa.UniqueConstraint(
            "series_id", "recurrence_id", name=op.f("uq_meeting_occurrences_series_id")
        ),
    )
    op.create_index(
        op.f("ix_meeting_occurrences_series_id"), "meeting_occurrences", ["series_id"], unique=False
    )
    op.create_table(
        "privacy_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_privacy_rules_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_rules")),
        sa.UniqueConstraint("kind", "value", "user_id", name=op.f("uq_privacy_rules_kind")),
    )
    op.create_table(
        "link_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_link_suggestions_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunities.id"],
            name=op.f("fk_link_suggestions_opportunity_id_opportunities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_suggestions")),
        sa.UniqueConstraint(
            "activity_id", "opportunity_id", name=op.f("uq_link_suggestions_activity_id")
        ),
    )
    op.create_index(
        op.f("ix_link_suggestions_activity_id"), "link_suggestions", ["activity_id"], unique=False
    )
    op.create_index(
        op.f("ix_link_suggestions_opportunity_id"),
        "link_suggestions",
        ["opportunity_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_link_suggestions_opportunity_id"), table_name="link_suggestions")
    op.drop_index(op.f("ix_link_suggestions_activity_id"), table_name="link_suggestions")
    op.drop_table("link_suggestions")
    op.drop_table("privacy_rules")
    op.drop_index(op.f("ix_meeting_occurrences_series_id"), table_name="meeting_occurrences")
    op.drop_table("meeting_occurrences")
    op.drop_table("feed_tokens")
    op.drop_index(op.f("ix_meeting_series_ical_uid"), table_name="meeting_series")
    op.drop_table("meeting_series")
    op.drop_index(op.f("ix_meeting_responses_address"), table_name="meeting_responses")
    op.drop_index(op.f("ix_meeting_responses_activity_id"), table_name="meeting_responses")
    op.drop_table("meeting_responses")
    op.drop_index(op.f("ix_activity_thread_keys_key"), table_name="activity_thread_keys")
    op.drop_index(op.f("ix_activity_thread_keys_activity_id"), table_name="activity_thread_keys")
    op.drop_table("activity_thread_keys")
    op.drop_table("suppressed_addresses")
    op.drop_index(op.f("ix_erasure_records_address_hash"), table_name="erasure_records")
    op.drop_table("erasure_records")
