"""support mailboxes: case rules, intake, outbox, alerts

Revision ID: 0050
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0050"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("support",)
# case numbers come from the case_sequences table the add-in branch creates
depends_on: str | Sequence[str] | None = "0040"

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "case_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("priority", sa.String(length=30), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("templates", sa.Text(), nullable=False),
        sa.Column("sla_hours", sa.Double(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_case_rules_owner_id_users")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_case_rules_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_case_rules_name")),
    )
    op.create_table(
        "support_cases",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("follow_up_of_id", sa.Integer(), nullable=True),
        sa.Column("requester", sa.String(length=320), nullable=False),
        sa.Column("reply_from", sa.String(length=320), nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("reopened_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_support_cases_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["follow_up_of_id"], ["cases.id"], name=op.f("fk_support_cases_follow_up_of_id_cases")),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"], name=op.f("fk_support_cases_mailbox_id_mailboxes"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["rule_id"], ["case_rules.id"], name=op.f("fk_support_cases_rule_id_case_rules"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_support_cases_team_id_teams")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_support_cases")),
    )
    op.create_table(
        "support_intake",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activities.id"], name=op.f("fk_support_intake_activity_id_activities"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_support_intake_case_id_cases"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"], name=op.f("fk_support_intake_mailbox_id_mailboxes"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_intake")),
        sa.UniqueConstraint("activity_id", name=op.f("uq_support_intake_activity_id")),
    )
    op.create_index("ix_support_intake_burst", "support_intake", ["sender", "fingerprint", "received_at"])
    op.create_table(
        "support_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("to_address", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("in_reply_to", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claim_expires_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sent_at", TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_support_outbox_case_id_cases"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"], name=op.f("fk_support_outbox_mailbox_id_mailboxes"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_support_outbox_key")),
    )
    op.create_index("ix_support_outbox_recipient", "support_outbox", ["to_address", "kind", "created_at"])
    op.create_index(op.f("ix_support_outbox_status"), "support_outbox", ["status"])
    op.create_index("ix_support_outbox_message_id", "support_outbox", ["message_id"])
    op.create_table(
        "support_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_support_alerts_case_id_cases"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_alerts")),
        sa.UniqueConstraint("key", name=op.f("uq_support_alerts_key")),
    )


def downgrade() -> None:
    op.drop_table("support_alerts")
    op.drop_index("ix_support_outbox_message_id", table_name="support_outbox")
    op.drop_index(op.f("ix_support_outbox_status"), table_name="support_outbox")
    op.drop_index("ix_support_outbox_recipient", table_name="support_outbox")
    op.drop_table("support_outbox")
    op.drop_index("ix_support_intake_burst", table_name="support_intake")
    op.drop_table("support_intake")
    op.drop_table("support_cases")
    op.drop_table("case_rules")
