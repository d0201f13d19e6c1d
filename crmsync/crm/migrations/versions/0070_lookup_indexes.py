"""lookup: activity_links.occurred_at kept by triggers, indexes for the sender lookup

"The 10 newest activities of a contact" used to read every link of the record and
every linked activity before sorting: fine at 100 activities, 50 ms at 50,000. With the
activity's time copied onto its links, each target column gets a (target, occurred_at)
index and the newest N are N index entries (crm/queries.py). The copy is kept by the
database, not by the writers (the engine's bulk Core inserts, the ORM, tracking,
support intake all insert links), so no writer can forget it:

- a link inserted (or moved to another activity) without ``occurred_at`` takes its
  activity's;
- an activity whose ``occurred_at`` changes (a rescheduled meeting) updates its links.

The single-column target indexes are dropped: the composite indexes' prefixes serve
their lookups. The lookup's other reads get the indexes they lacked (a contact's
addresses by ``contact_id`` scanned all 1,000,000 addresses; an account's cases scanned
every case).

Revision ID: 0070
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0070"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("lookup",)
depends_on: str | Sequence[str] | None = None

TARGETS = ("contact", "account", "opportunity", "case")

SQLITE_TRIGGERS = (
    """CREATE TRIGGER activity_links_occurred_at_insert AFTER INSERT ON activity_links
    FOR EACH ROW WHEN NEW.occurred_at IS NULL BEGIN
        UPDATE activity_links SET occurred_at =
            (SELECT occurred_at FROM activities WHERE id = NEW.activity_id)
        WHERE id = NEW.id;
    END""",
    """CREATE TRIGGER activity_links_occurred_at_move AFTER UPDATE OF activity_id
    ON activity_links FOR EACH ROW WHEN NEW.activity_id IS NOT OLD.activity_id BEGIN
        UPDATE activity_links SET occurred_at =
            (SELECT occurred_at FROM activities WHERE id = NEW.activity_id)
        WHERE id = NEW.id;
    END""",
    """CREATE TRIGGER activities_occurred_at_to_links AFTER UPDATE OF occurred_at
    ON activities FOR EACH ROW WHEN NEW.occurred_at IS NOT OLD.occurred_at BEGIN
        UPDATE activity_links SET occurred_at = NEW.occurred_at WHERE activity_id = NEW.id;
    END""",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS activity_links_occurred_at_insert",
    "DROP TRIGGER IF EXISTS activity_links_occurred_at_move",
    "DROP TRIGGER IF EXISTS activities_occurred_at_to_links",
)

POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION activity_links_take_occurred_at() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'INSERT' AND NEW.occurred_at IS NOT NULL THEN
            RETURN NEW;
        END IF;
        NEW.occurred_at := (SELECT occurred_at FROM activities WHERE id = NEW.activity_id);
        RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER activity_links_occurred_at BEFORE INSERT OR UPDATE OF activity_id
    ON activity_links FOR EACH ROW EXECUTE FUNCTION activity_links_take_occurred_at()""",
    """CREATE FUNCTION activities_occurred_at_to_links() RETURNS trigger AS $$
    BEGIN
        UPDATE activity_links SET occurred_at = NEW.occurred_at WHERE activity_id = NEW.id;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER activities_occurred_at_to_links AFTER UPDATE OF occurred_at
    ON activities FOR EACH ROW WHEN (NEW.occurred_at IS DISTINCT FROM OLD.occurred_at)
    EXECUTE FUNCTION activities_occurred_at_to_links()""",
)
POSTGRESQL_DROP = (
    "DROP TRIGGER IF EXISTS activities_occurred_at_to_links ON activities",
    "DROP TRIGGER IF EXISTS activity_links_occurred_at ON activity_links",
    "DROP FUNCTION IF EXISTS activities_occurred_at_to_links()",
    "DROP FUNCTION IF EXISTS activity_links_take_occurred_at()",
)


def _statements(sqlite: tuple[str, ...], postgresql: tuple[str, ...]) -> tuple[str, ...]:
    return {"sqlite": sqlite, "postgresql": postgresql}[op.get_bind().dialect.name]


def upgrade() -> None:
    op.add_column(
        "activity_links", sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE activity_links SET occurred_at ="
        " (SELECT occurred_at FROM activities WHERE activities.id = activity_links.activity_id)"
    )
    for target in TARGETS:
        op.drop_index(f"ix_activity_links_{target}_id", table_name="activity_links")
        op.create_index(
            f"ix_activity_links_{target}_recent",
            "activity_links",
            [f"{target}_id", "occurred_at"],
            unique=False,
        )
    for statement in _statements(SQLITE_TRIGGERS, POSTGRESQL_TRIGGERS):
        op.execute(statement)
    # The lookup's other reads: a contact's addresses, an account's cases.
    op.create_index(
        "ix_contact_emails_contact_id", "contact_emails", ["contact_id"], unique=False
    )
    op.create_index("ix_cases_account_id", "cases", ["account_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_account_id", table_name="cases")
    op.drop_index("ix_contact_emails_contact_id", table_name="contact_emails")
    for statement in _statements(SQLITE_DROP, POSTGRESQL_DROP):
        op.execute(statement)
    for target in TARGETS:
        op.drop_index(f"ix_activity_links_{target}_recent", table_name="activity_links")
        op.create_index(
            f"ix_activity_links_{target}_id", "activity_links", [f"{target}_id"], unique=False
        )
    with op.batch_alter_table("activity_links") as batch_op:
        batch_op.drop_column("occurred_at")
