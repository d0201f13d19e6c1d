"""`crmsync rules`: privacy rules (block, do-not-capture), applied to old mail too; preview."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.erase import purge_for_rule
from crmsync.crm.models import User
from crmsync.crm.rules import (
    RULE_KINDS,
    audit_target,
    normalize_rule_value,
    remove_rule,
    rule_rows,
)
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited
from crmsync.sync_service.engine.preview import preview_mailbox


@main.group()
def rules() -> None:
    """Privacy rules: what is never captured."""


def _user_id(session, email: str | None) -> int | None:
    if email is None:
        return None
    user_id = session.scalar(select(User.id).where(User.email == email.lower()))
    if user_id is None:
        raise UserError(f"no CRM user {email}")
    return user_id


@rules.command("add")
@click.argument("kind", type=click.Choice(RULE_KINDS))
@click.argument("value")
@click.option("--user", "email", help="The user whose do-not-capture list this is.")
@audited("rules.add", lambda p: audit_target(p["kind"], p["value"]))
def rules_add(kind: str, value: str, email: str | None) -> None:
    """Add a rule and purge the mail already captured that it forbids."""
    with session_scope(services().sessions) as session:
        purged = purge_for_rule(session, kind, value, datetime.now(UTC),
                                _user_id(session, email))
    click.echo(f"rule added: {kind} {normalize_rule_value(kind, value)}; "
               f"{len(purged)} captured activities purged")


@rules.command("list")
def rules_list() -> None:
    """Every rule, one a line."""
    with session_scope(services().sessions) as session:
        for kind, value, email in rule_rows(session):
            click.echo(f"{kind}\t{value}" + (f"\t{email}" if email else ""))


@rules.command("remove")
@click.argument("kind", type=click.Choice(RULE_KINDS))
@click.argument("value")
@click.option("--user", "email", help="The user whose list holds the rule.")
@audited("rules.remove", lambda p: audit_target(p["kind"], p["value"]))
def rules_remove(kind: str, value: str, email: str | None) -> None:
    """Remove a rule (mail purged earlier stays purged)."""
    with session_scope(services().sessions) as session:
        removed = remove_rule(session, kind, value, _user_id(session, email))
    click.echo(f"{removed} rule removed")


@rules.command("preview")
@click.option("--mailbox", "name", required=True, help="The mailbox to preview.")
@click.option("--limit", default=1000, show_default=True, help="Mails to read at most.")
def rules_preview(name: str, limit: int) -> None:
    """Show what the current rules would capture, link and purge; writes nothing."""
    preview = preview_mailbox(services(), name, limit)
    for line in preview.lines:
        click.echo(line)
    for activity_id, subject, reason in preview.purge:
        click.echo(f"purge      activity {activity_id} {subject[:60]!r}: {reason}")
    counts = ", ".join(f"{v} {k}" for k, v in sorted(preview.counts.items())) or "no mail"
    click.echo(f"{name}: would {counts}; would purge {len(preview.purge)} stored activities")
