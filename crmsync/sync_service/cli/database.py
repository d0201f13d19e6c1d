"""`crmsync db`: the schema."""

from __future__ import annotations

import click

from crmsync.crm.db import upgrade_schema
from crmsync.sync_service.cli import main, services


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema."""
    upgrade_schema(services().engine)
    click.echo("database is up to date")
