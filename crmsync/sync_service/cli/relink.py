"""`crmsync relink`: re-evaluate automatic links of recent activities after CRM changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from crmsync.crm.db import session_scope
from crmsync.crm.directory import load_directory
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.engine.relink import relink_since


def _since(value: str | None, days: int) -> datetime:
    if value is None:
        return datetime.now(UTC) - timedelta(days=days)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UserError(f"--since: not an ISO-8601 date or time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@main.command()
@click.option("--since", "since", help="Relink activities from this ISO-8601 date or time.")
@click.option("--days", default=30, show_default=True, help="Without --since: the last N days.")
def relink(since: str | None, days: int) -> None:
    """Re-evaluate automatic links of recent activities; a person's links stay."""
    svc = services()
    start = _since(since, days)
    with session_scope(svc.sessions) as session:
        directory = load_directory(session, svc.internal_domains(session))
        counts = relink_since(session, directory, start, datetime.now(UTC))
    click.echo(
        f"relinked {counts['activities']} activities: {counts['added']} links added, "
        f"{counts['removed']} removed, {counts['updated']} updated"
    )
