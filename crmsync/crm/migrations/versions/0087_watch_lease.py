"""watch lease: which worker process watches a mailbox for push, and until when

Revision ID: 0087
Revises: 0086
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0087"
down_revision: str | None = "0086"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("watch_owner", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("watch_expires_at", sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("watch_expires_at")
        batch.drop_column("watch_owner")
