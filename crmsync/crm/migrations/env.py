"""Alembic environment: runs on the connection crmsync hands it (see ``upgrade_schema``)."""

from typing import Any

from alembic import context

from crmsync.crm.models import UtcDateTime
from crmsync.crm.schema import Base


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write :class:`UtcDateTime` into a draft as the column type it is.

    The conversion to UTC is Python's business; a migration names only the database
    type, as every migration so far does, and never imports crmsync's models.
    """
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
