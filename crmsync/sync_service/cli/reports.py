"""`crmsync report`: how the organization's customer relationships stand."""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.models import User
from crmsync.crm.signals import accounts_report
from crmsync.crm.visibility import Viewer, sharing
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.instants import parse_instant


@main.group()
def report() -> None:
    """Reports on customer relationships."""


@report.command("accounts")
@click.option("--as-of", help="ISO-8601 instant (default: now).")
@click.option("--as", "as_user", help="Count only what this CRM user may see (their address).")
def report_accounts(as_of: str | None, as_user: str | None) -> None:
    """Each account's recency, frequency and 'going quiet' flag (JSON Lines)."""
    with session_scope(services().sessions) as session:
        seen_by = None
        if as_user:
            user = session.scalar(select(User).where(User.email == as_user.strip().lower()))
            if user is None:
                raise UserError(f"no CRM user {as_user!r}")
            seen_by = Viewer.of(user, sharing(session)).seen_by
        for row in accounts_report(session, parse_instant(as_of), seen_by):
            click.echo(json.dumps(row, ensure_ascii=False))
