"""`crmsync quarantine`: items crmsync could not process: list, retry, discard.

The same functions as the admin console's Quarantine page
(:mod:`crmsync.sync_service.engine.quarantine`); the command line sees every item.
"""

from __future__ import annotations

import json

import click
from sqlalchemy import func, select

from crmsync.crm.audit import record
from crmsync.crm.db import session_scope
from crmsync.crm.export import iso_utc
from crmsync.crm.models import Mailbox, QuarantinedItem
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited, cli_actor
from crmsync.sync_service.engine.quarantine import (
    discard_quarantined,
    explain,
    retry_quarantined,
)


@main.group()
def quarantine() -> None:
    """Items crmsync could not process: list, retry, discard."""


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True,
              help="One object a line: id, mailbox, origin, folder, item_id, received_at, "
                   "size, reason, explanation.")
def quarantine_list(as_json: bool) -> None:
    """Every quarantined item, oldest first: id, mailbox or file, folder, when, size,
    reason."""
    with session_scope(services().sessions) as session:
        rows = session.execute(
            select(QuarantinedItem.id, Mailbox.name, QuarantinedItem.origin,
                   QuarantinedItem.folder, QuarantinedItem.item_id, QuarantinedItem.created_at,
                   func.length(QuarantinedItem.raw), QuarantinedItem.reason)
            .outerjoin(Mailbox, Mailbox.id == QuarantinedItem.mailbox_id)
            .order_by(QuarantinedItem.id)
        ).all()
    for item_id, mailbox, origin, folder, remote_id, at, size, reason in rows:
        if as_json:
            click.echo(json.dumps({
                "id": item_id, "mailbox": mailbox, "origin": origin, "folder": folder,
                "item_id": remote_id, "received_at": iso_utc(at), "size": size,
                "reason": reason, "explanation": explain(reason)}, ensure_ascii=False))
        else:
            click.echo(f"{item_id}\t{mailbox or origin}\t{folder}\t{iso_utc(at)}\t"
                       f"{size} bytes\t{reason}")


@quarantine.command("retry")
@click.argument("item_id", type=int)
def quarantine_retry(item_id: int) -> None:
    """Run item ITEM_ID through the pipeline again: stored, it leaves the quarantine;
    failing again, it stays with the new reason (and the command exits 1)."""
    outcome = retry_quarantined(services(), item_id)
    with session_scope(services().sessions) as session:
        # the outcome's words may quote a mail's values: the audit row keeps only yes/no
        record(session, cli_actor(), "quarantine.retry", str(item_id), "cli",
               resolved=outcome.resolved)
    if not outcome.resolved:
        raise UserError(f"item {item_id} is still quarantined: {outcome.result}")
    click.echo(f"item {item_id}: {outcome.result}")


@quarantine.command("discard")
@click.argument("item_id", type=int)
@audited("quarantine.discard", lambda p: p["item_id"])
def quarantine_discard(item_id: int) -> None:
    """Delete item ITEM_ID from the quarantine for good."""
    with session_scope(services().sessions) as session:
        discard_quarantined(session, item_id)
    click.echo(f"item {item_id} discarded")
