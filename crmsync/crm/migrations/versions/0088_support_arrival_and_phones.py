"""support: the arrival an outbox row answers (ack limits), cases from history, users' phones

Revision ID: 0088
Revises: 0050 (the support branch, whose tables it changes), after 0087. Hung under 0087
with depends_on 0050 instead, alembic runs 0070 before 0080, and 0080's batch copy of
activities fails on 0070's SQLite trigger (an order 0070/0080 rely on without saying).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0088"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0087"


def upgrade() -> None:
    # plain ADD COLUMN (SQLite has it): a batch copy of these tables trips the triggers
    # that other tables hold on them
    op.add_column("support_outbox",
                  sa.Column("event_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("phone", sa.String(length=40), nullable=True))
    op.add_column("support_cases", sa.Column("from_history", sa.Boolean(), nullable=False,
                                             server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("support_cases") as batch:
        batch.drop_column("from_history")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("support_outbox") as batch:
        batch.drop_column("event_at")
