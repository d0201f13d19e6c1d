"""follow-ups: users' working hours, "no reply needed" dismissals

Revision ID: 0089
Revises: 0092
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0089"
down_revision: str | None = "0092"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_hours",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("business_hours", sa.String(length=200), nullable=False),
        sa.Column("holidays", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_work_hours_user_id_users",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name="pk_work_hours"),
    )
    op.create_table(
        "followup_dismissals",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name="fk_followup_dismissals_user_id_users", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["activity_id"], ["activities.id"],
                                name="fk_followup_dismissals_activity_id_activities",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "activity_id", name="pk_followup_dismissals"),
    )


def downgrade() -> None:
    op.drop_table("followup_dismissals")
    op.drop_table("work_hours")
