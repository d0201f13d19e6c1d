"""`crmsync calendar import FILE.ics`, and feed tokens for the .ics subscription."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from crmsync.crm.db import session_scope
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.engine.meetings import import_calendar
from crmsync.sync_service.web.feeds import create_feed_token


@main.group()
def calendar() -> None:
    """iCalendar files and the meetings feed."""


@calendar.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def calendar_import(files: tuple[Path, ...]) -> None:
    """Import .ics files: meetings linked like mail, series with their exceptions."""
    for path in files:
        counts = import_calendar(services(), path, datetime.now(UTC))
        text = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no meetings"
        click.echo(f"{path.name}: {text}")


@calendar.command("feed-token")
@click.argument("email")
def calendar_feed_token(email: str) -> None:
    """Print a new secret feed URL path for EMAIL's meetings (.ics subscription)."""
    with session_scope(services().sessions) as session:
        token = create_feed_token(session, email)
    click.echo(f"/feeds/{token}.ics")
