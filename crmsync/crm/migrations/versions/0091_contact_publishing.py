"""contact publishing: rules, contacts written to CRM folders, suggestions

Revision ID: 0091
Revises: 0087
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0091"
down_revision: str | None = "0087"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_publish_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  unique=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"),
                  unique=True),
        sa.Column("accounts", sa.String(length=10), nullable=False),
        sa.CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_subject"),
        sa.CheckConstraint("accounts IN ('owned', 'team', 'all', 'none')", name="scope"),
    )
    op.create_table(
        "published_contacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mailbox_id", sa.Integer(),
                  sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("contact_id", sa.Integer(),
                  sa.ForeignKey("contacts.id", ondelete="SET NULL")),
        sa.Column("remote_id", sa.String(length=1000), nullable=False),
        sa.Column("change_key", sa.String(length=500), nullable=False),
        sa.Column("written_hash", sa.String(length=64), nullable=False),
        sa.UniqueConstraint("mailbox_id", "contact_id"),
    )
    op.create_index("ix_published_contacts_mailbox_id", "published_contacts", ["mailbox_id"])
    op.create_table(
        "contact_suggestions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contact_id", sa.Integer(),
                  sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("field", sa.String(length=50), nullable=False),
        sa.Column("crm_value", sa.String(length=300), nullable=False),
        sa.Column("suggested_value", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("contact_id", "field", "suggested_value"),
    )
    op.create_index("ix_contact_suggestions_contact_id", "contact_suggestions", ["contact_id"])


def downgrade() -> None:
    op.drop_table("contact_suggestions")
    op.drop_table("published_contacts")
    op.drop_table("contact_publish_rules")
