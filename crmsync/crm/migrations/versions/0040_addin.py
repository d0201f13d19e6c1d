"""task pane: track-on-send intents, removed links, case number sequence

Revision ID: 0040
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("addin",)
depends_on: str | Sequence[str] | None = None

EXACTLY_ONE = (
    "(CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END + CASE WHEN account_id IS NULL THEN 0 ELSE 1 END"
    " + CASE WHEN opportunity_id IS NULL THEN 0 ELSE 1 END + CASE WHEN case_id IS NULL THEN 0 ELSE 1 END) = 1"
)


def _targets(table: str) -> list:
    """The four typed target columns and their foreign keys (no generic FK)."""
    columns = [sa.Column(f"{kind}_id", sa.Integer(), nullable=True)
               for kind in ("contact", "account", "opportunity", "case")]
    keys = [
        sa.ForeignKeyConstraint([f"{kind}_id"], [f"{plural}.id"],
                                name=op.f(f"fk_{table}_{kind}_id_{plural}"), ondelete="CASCADE")
        for kind, plural in (("contact", "contacts"), ("account", "accounts"),
                             ("opportunity", "opportunities"), ("case", "cases"))
    ]
    return [*columns, *keys,
            sa.CheckConstraint(EXACTLY_ONE, name=op.f(f"ck_{table}_exactly_one_target"))]


def upgrade() -> None:
    op.create_table(
        "case_sequences",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_case_sequences")),
    )
    op.create_table(
        "link_removals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("removed_by_id", sa.Integer(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        *_targets("link_removals"),
        sa.ForeignKeyConstraint(["activity_id"], ["activities.id"], name=op.f("fk_link_removals_activity_id_activities"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["removed_by_id"], ["users.id"], name=op.f("fk_link_removals_removed_by_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_removals")),
    )
    op.create_index(op.f("ix_link_removals_activity_id"), "link_removals", ["activity_id"], unique=False)
    op.create_table(
        "track_intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=1000), nullable=True),
        sa.Column("internet_message_id", sa.String(length=1000), nullable=True),
        sa.Column("item_id", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activity_id", sa.Integer(), nullable=True),
        *_targets("track_intents"),
        sa.CheckConstraint("conversation_id IS NOT NULL OR internet_message_id IS NOT NULL OR item_id IS NOT NULL", name=op.f("ck_track_intents_has_key")),
        sa.ForeignKeyConstraint(["activity_id"], ["activities.id"], name=op.f("fk_track_intents_activity_id_activities"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_track_intents_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_track_intents")),
    )
    op.create_index(op.f("ix_track_intents_conversation_id"), "track_intents", ["conversation_id"], unique=False)
    op.create_index(op.f("ix_track_intents_internet_message_id"), "track_intents", ["internet_message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_track_intents_internet_message_id"), table_name="track_intents")
    op.drop_index(op.f("ix_track_intents_conversation_id"), table_name="track_intents")
    op.drop_table("track_intents")
    op.drop_index(op.f("ix_link_removals_activity_id"), table_name="link_removals")
    op.drop_table("link_removals")
    op.drop_table("case_sequences")
