"""`crmsync calendar import FILE.ics`, and feed tokens for the .ics subscription."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from crmsync.crm.db import session_scope
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited
from crmsync.sync_service.engine.meetings import import_calendar
from crmsync.sync_service.web.feeds import FEED_DAYS, create_feed_token, revoke_feed_tokens


@main.group()
def calendar() -> None:
    """iCalendar files, the meetings feed, and meetings booked in the CRM."""


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
@click.option("--days", type=click.IntRange(1, 3650), default=FEED_DAYS, show_default=True,
              help="The URL stops working after this many days.")
@click.option("--revoke", is_flag=True, help="Revoke EMAIL's feed URLs; print none.")
@audited("calendar.feed-token", lambda p: p["email"],
         lambda p: {"revoke": p["revoke"], "days": p["days"]})
def calendar_feed_token(email: str, days: int, revoke: bool) -> None:
    """Print a new secret feed URL path for EMAIL's meetings (.ics subscription); the
    earlier ones stop working."""
    with session_scope(services().sessions) as session:
        if revoke:
            click.echo(f"revoked {revoke_feed_tokens(session, email)} feed URL(s)")
            return
        token = create_feed_token(session, email, days)
    click.echo(f"/feeds/{token}.ics")


@calendar.command("feed-tokens")
@click.option("--user", "email", help="Only this CRM user's feed URLs.")
def calendar_feed_tokens(email: str | None) -> None:
    """List feed URLs (never their secret): id, user, created, expires, state."""
    from crmsync.sync_service.cli.apikeys import credential_line
    from crmsync.sync_service.web.feeds import list_feed_tokens

    with session_scope(services().sessions) as session:
        for token in list_feed_tokens(session, email):
            click.echo(credential_line(token))
