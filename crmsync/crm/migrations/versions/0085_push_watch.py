"""push watch: how serve watches each folder (NOTIFY, IDLE, or only polled), and until when

Revision ID: 0085
Revises: 0084
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0085"
down_revision: str | None = "0084"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_states") as batch:
        batch.add_column(sa.Column("push", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("push_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_states") as batch:
        batch.drop_column("push_until")
        batch.drop_column("push")
