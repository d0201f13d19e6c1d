"""graph change-notification subscriptions

Revision ID: 0030
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("graph",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "graph_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(length=200), nullable=False),
        sa.Column("resource", sa.String(length=1000), nullable=False),
        sa.Column("client_state_hash", sa.String(length=64), nullable=False),
        sa.Column("notification_url", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"], name=op.f("fk_graph_subscriptions_mailbox_id_mailboxes"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_subscriptions")),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_graph_subscriptions_subscription_id")),
    )
    with op.batch_alter_table("graph_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_graph_subscriptions_mailbox_id"), ["mailbox_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("graph_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_graph_subscriptions_mailbox_id"))
    op.drop_table("graph_subscriptions")
