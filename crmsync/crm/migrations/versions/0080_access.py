"""access: who sees an activity: its sensitivity and the mailbox that captured it

Visibility (``crm/visibility.py``) follows an activity's mailboxes: the one that first
captured it, kept here even when the copy is later deleted from the mailbox, and the
mailboxes of its other copies (``activity_sources.mailbox_id``). Existing activities get
the first mailbox among their copies; sensitivity starts ``normal`` (private items were
not captured unless an admin turned ``capture_sensitive`` on).

Revision ID: 0080
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0080"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("access",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sensitivity", sa.String(length=10), nullable=False,
                                      server_default="normal"))
        batch_op.add_column(sa.Column("owner_mailbox_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_activities_owner_mailbox_id"),
                              ["owner_mailbox_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_activities_owner_mailbox_id_mailboxes"),
                                    "mailboxes", ["owner_mailbox_id"], ["id"])
    op.execute(
        "UPDATE activities SET owner_mailbox_id = (SELECT min(s.mailbox_id) FROM activity_sources s"
        " WHERE s.activity_id = activities.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_activities_owner_mailbox_id_mailboxes"),
                                 type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_activities_owner_mailbox_id"))
        batch_op.drop_column("owner_mailbox_id")
        batch_op.drop_column("sensitivity")
