"""`crmsync crm` and `crmsync org`: CRM data and organization settings."""

from __future__ import annotations

from pathlib import Path

import click

from crmsync.crm.db import session_scope
from crmsync.crm.importer import import_csv
from crmsync.crm.visibility import SHARING_CHOICES, set_sharing
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited
from crmsync.sync_service.context import set_internal_domains


@main.group()
def crm() -> None:
    """CRM data."""


def _csv_option(kind: str):
    return click.option(
        f"--{kind}", type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"CSV of {kind}.",
    )


@crm.command("import")
@_csv_option("users")
@_csv_option("accounts")
@_csv_option("contacts")
@_csv_option("opportunities")
def crm_import(**files: Path | None) -> None:
    """Load CSV files; idempotent on external_id (users: on email)."""
    given = {kind: path for kind, path in files.items() if path is not None}
    if not given:
        raise UserError("give at least one of --users, --accounts, --contacts, --opportunities")
    with session_scope(services().sessions) as session:
        report = import_csv(session, given)
    for kind, counts in report.counts.items():
        click.echo(f"{kind}: {counts['created']} created, {counts['updated']} updated")


@main.group()
def org() -> None:
    """Organization settings."""


@org.command("set-domains")
@click.argument("domains", nargs=-1, required=True)
@audited("org.set-domains", lambda p: ";".join(p["domains"]))
def org_set_domains(domains: tuple[str, ...]) -> None:
    """Set the organization's own mail domains (mail among them only is internal)."""
    with session_scope(services().sessions) as session:
        value = set_internal_domains(session, domains)
    click.echo(f"internal domains: {value}")


@org.command("set-sharing")
@click.argument("sharing", type=click.Choice(SHARING_CHOICES))
@audited("org.set-sharing", lambda p: p["sharing"])
def org_set_sharing(sharing: str) -> None:
    """Who sees a rep's mail: only the rep (private), their team (team, the default) or
    everyone (everyone). Private items are always seen only by their mailbox's owner;
    support mailboxes' mail by agents, admins and managers."""
    with session_scope(services().sessions) as session:
        set_sharing(session, sharing)
    click.echo(f"sharing: {sharing}")
