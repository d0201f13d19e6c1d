"""The Alembic migrations create exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from crmsync.crm.schema import Base
from crmsync.sync_service.context import Services


def test_migrations_match_the_models(services: Services) -> None:
    # A model change without its migration would break `crmsync db upgrade` for users.
    with services.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(services: Services) -> None:
    # Running `crmsync db upgrade` twice (every deploy does) is harmless.
    from crmsync.crm.db import upgrade_schema

    upgrade_schema(services.engine)
