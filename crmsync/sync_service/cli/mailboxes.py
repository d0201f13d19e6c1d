"""`crmsync mailbox`: connect and list mailboxes."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import func, select

from crmsync.crm.db import session_scope
from crmsync.crm.export import iso_utc
from crmsync.crm.models import ActivitySource, Mailbox, User
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited


@main.group()
def mailbox() -> None:
    """Connected mailboxes."""


@mailbox.group("add")
def mailbox_add() -> None:
    """Register a mailbox."""


def _secret_from_env(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise UserError(f"environment variable {var} is not set (it should hold the password)")
    return value


def _owner_id(session, email: str | None) -> int | None:
    if not email:
        return None
    user_id = session.scalars(select(User.id).where(User.email == email.lower())).one_or_none()
    if user_id is None:
        raise UserError(f"no CRM user {email} (import users first)")
    return user_id


@mailbox_add.command("imap")
@click.argument("name")
@click.option("--host", required=True)
@click.option("--port", type=int, required=True)
@click.option("--security", type=click.Choice(["ssl", "starttls", "none"]), default="ssl")
@click.option("--username", required=True)
@click.option("--password-env", required=True, help="Variable holding the password or token.")
@click.option("--auth", type=click.Choice(["password", "xoauth2"]), default="password")
@click.option("--owner", help="Email of the CRM user who owns the mailbox.")
@click.option("--purpose", type=click.Choice(["personal", "support"]), default="personal")
@click.option("--folders", help="Comma-separated folders (default: Inbox and Sent).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Backfill from.")
@click.option("--smtp-host")
@click.option("--smtp-port", type=int)
@click.option("--smtp-security", type=click.Choice(["ssl", "starttls", "none"]))
@audited("mailbox.add", lambda p: p["name"],
         lambda p: {"provider": "imap", "owner": p["owner"], "purpose": p["purpose"]})
def mailbox_add_imap(name: str, password_env: str, owner: str | None, purpose: str,
                     **options: Any) -> None:
    """Register an IMAP mailbox; prints its id.

    The IMAP and SMTP servers must be public mail servers (or on a network in
    CRMSYNC_ALLOWED_PRIVATE_NETWORKS): checked now, and again at every connection.
    """
    from crmsync.connectors.network import IMAP_PORTS, SMTP_PORTS, pin
    from crmsync.connectors.smtp import submission_port

    pin(options["host"], options["port"], IMAP_PORTS)
    if options.get("smtp_host"):
        port = submission_port(options.get("smtp_port"), options.get("smtp_security"))
        pin(options["smtp_host"], port, SMTP_PORTS)
    secret = _secret_from_env(password_env)
    settings = {k: v for k, v in options.items() if v is not None}
    if "folders" in settings:
        settings["folders"] = [f.strip() for f in settings["folders"].split(",") if f.strip()]
    if "since" in settings:
        settings["since"] = settings["since"].date().isoformat()
    _add_mailbox(name, "imap", settings, secret, owner, purpose)


def _add_mailbox(name: str, provider: str, settings: dict[str, Any], secret: str,
                 owner: str | None, purpose: str) -> None:
    box = services().secret_box()
    with session_scope(services().sessions) as session:
        if session.scalars(select(Mailbox.id).where(Mailbox.name == name)).first():
            raise UserError(f"a mailbox named {name!r} exists already")
        mailbox = Mailbox(
            name=name, provider=provider, settings=settings, secret=box.seal(secret, name),
            owner_id=_owner_id(session, owner), purpose=purpose, status="new",
            created_at=datetime.now(UTC),
        )
        session.add(mailbox)
        session.flush()
        click.echo(mailbox.id)


@mailbox.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
def mailbox_list(as_json: bool) -> None:
    """Every mailbox with status, last sync, items and last error."""
    with session_scope(services().sessions) as session:
        counts = dict(
            session.execute(
                select(ActivitySource.mailbox_id, func.count()).group_by(ActivitySource.mailbox_id)
            ).all()
        )
        rows = [
            {
                "id": m.id, "name": m.name, "provider": m.provider, "purpose": m.purpose,
                "status": m.status, "last_sync": iso_utc(m.last_sync_at),
                "items": counts.get(m.id, 0), "last_error": m.last_error,
            }
            for m in session.scalars(select(Mailbox).order_by(Mailbox.name))
        ]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    click.echo(f"{'NAME':20} {'PROVIDER':8} {'STATUS':12} {'LAST SYNC':22} {'ITEMS':>7}  ERROR")
    for r in rows:
        click.echo(
            f"{r['name']:20} {r['provider']:8} {r['status']:12} {r['last_sync'] or '-':22} "
            f"{r['items']:>7}  {r['last_error'] or ''}"
        )
