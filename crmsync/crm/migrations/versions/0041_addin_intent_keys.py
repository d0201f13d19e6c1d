"""add-in: track-on-send by header token, meeting links by item id and iCalendar UID

Revision ID: 0041
Revises: 0040
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = ("conversation_id IS NOT NULL OR internet_message_id IS NOT NULL"
           " OR item_id IS NOT NULL")
NEW_KEY = (OLD_KEY + " OR rest_item_id IS NOT NULL OR ical_uid IS NOT NULL"
           " OR send_token IS NOT NULL")
INDEXED = ("item_id", "rest_item_id", "ical_uid", "send_token")


def upgrade() -> None:
    # batch: SQLite can change a CHECK constraint only by copying the table
    with op.batch_alter_table("track_intents") as batch:
        batch.add_column(sa.Column("rest_item_id", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("ical_uid", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("send_token", sa.String(length=64), nullable=True))
        batch.drop_constraint(op.f("ck_track_intents_has_key"), type_="check")
        batch.create_check_constraint(op.f("ck_track_intents_has_key"), NEW_KEY)
    for column in INDEXED:
        op.create_index(op.f(f"ix_track_intents_{column}"), "track_intents", [column])


def downgrade() -> None:
    for column in INDEXED:
        op.drop_index(op.f(f"ix_track_intents_{column}"), table_name="track_intents")
    with op.batch_alter_table("track_intents") as batch:
        batch.drop_constraint(op.f("ck_track_intents_has_key"), type_="check")
        batch.create_check_constraint(op.f("ck_track_intents_has_key"), OLD_KEY)
        batch.drop_column("send_token")
        batch.drop_column("ical_uid")
        batch.drop_column("rest_item_id")
