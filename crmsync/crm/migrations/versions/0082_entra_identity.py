"""access: a user's Microsoft Entra identity (tenant id + object id), bound once

Revision ID: 0082
Revises: 0081
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0082"
down_revision: str | None = "0081"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entra_tenant_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("entra_object_id", sa.String(length=36), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_users_entra_tenant_id"),
                                          ["entra_tenant_id", "entra_object_id"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_entra_tenant_id"), type_="unique")
        batch_op.drop_column("entra_object_id")
        batch_op.drop_column("entra_tenant_id")
