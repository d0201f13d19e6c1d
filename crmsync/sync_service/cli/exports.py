"""`crmsync export`: JSON Lines."""

from __future__ import annotations

import json

import click

from crmsync.crm.db import session_scope
from crmsync.crm.export import iter_activities, iter_cases
from crmsync.sync_service.cli import main, services


@main.group()
def export() -> None:
    """JSON Lines exports."""


@export.command("activities")
def export_activities() -> None:
    """Every activity with its participants, links and sources."""
    with session_scope(services().sessions) as session:
        for row in iter_activities(session):
            click.echo(json.dumps(row, ensure_ascii=False))


@export.command("cases")
def export_cases() -> None:
    """Every case."""
    with session_scope(services().sessions) as session:
        for row in iter_cases(session):
            click.echo(json.dumps(row, ensure_ascii=False))
