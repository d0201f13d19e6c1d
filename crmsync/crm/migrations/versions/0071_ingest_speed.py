"""lookup: faster ingest: no INSERT trigger on links (SQLite), Message-IDs indexed

Migration 0070 copied each activity's ``occurred_at`` onto its links with triggers. On
SQLite an ``AFTER INSERT ... FOR EACH ROW`` trigger costs 10-14 µs for every row
inserted, even when its ``WHEN`` is false: inserting a backfill's 35,000 links took
0.74 s with it and 0.39 s without it (more than the table's five indexes together).
So the writers give the copy instead: the engine's bulk insert sets it from the
activity it just wrote, and every ORM insert gets it from a ``before_insert`` event on
``ActivityLink`` (``crm/models.py``). The UPDATE triggers stay (a link moved to another
activity, a rescheduled meeting), and so does PostgreSQL's trigger, which costs little.

``activities.internet_message_id`` gets an index: every stored page looks up the
Message-IDs its mail replies to there (``ThreadIndex.load``), and the task pane finds
an open mail by it (``find_activity``). Without one, each page read the whole table,
bodies included: 0.4 s of a 20,000-message backfill, growing with the table.

Revision ID: 0071
Revises: 0070
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0071"
down_revision: str | None = "0070"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSERT_TRIGGER = """CREATE TRIGGER activity_links_occurred_at_insert AFTER INSERT ON activity_links
    FOR EACH ROW WHEN NEW.occurred_at IS NULL BEGIN
        UPDATE activity_links SET occurred_at =
            (SELECT occurred_at FROM activities WHERE id = NEW.activity_id)
        WHERE id = NEW.id;
    END"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS activity_links_occurred_at_insert")
    op.create_index("ix_activities_internet_message_id", "activities",
                    ["internet_message_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_activities_internet_message_id", table_name="activities")
    if op.get_bind().dialect.name == "sqlite":
        op.execute(INSERT_TRIGGER)
