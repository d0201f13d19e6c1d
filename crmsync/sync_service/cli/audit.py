"""`crmsync audit`: read the audit log (the command line is an admin's)."""

from __future__ import annotations

import json

import click

from crmsync.crm.audit import event_shape, recent_events
from crmsync.crm.db import session_scope
from crmsync.sync_service.cli import main, services


@main.group()
def audit() -> None:
    """The audit log of security-relevant actions."""


@audit.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--action", help="Only this action (or a prefix ending in '.', e.g. 'apikey.').")
def audit_list(limit: int, action: str | None) -> None:
    """The newest events first, as JSON Lines: time, actor, action, target, source, detail."""
    with session_scope(services().sessions) as session:
        for event in recent_events(session, limit, action):
            click.echo(json.dumps(event_shape(event), ensure_ascii=False))
