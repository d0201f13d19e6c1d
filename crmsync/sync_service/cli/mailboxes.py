"""`crmsync mailbox`: connect, list, pause, resume, resync and remove mailboxes."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import func, select

from crmsync.crm.db import session_scope
from crmsync.crm.export import iso_utc
from crmsync.crm.models import ActivitySource, Mailbox, SyncState
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited
from crmsync.sync_service.mailboxes import lifecycle
from crmsync.sync_service.mailboxes.lifecycle import active, status_word
from crmsync.sync_service.mailboxes.push_marks import push_modes


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
    secret = _secret_from_env(password_env)
    settings = {k: v for k, v in options.items() if v is not None}
    if "folders" in settings:
        settings["folders"] = [f.strip() for f in settings["folders"].split(",") if f.strip()]
    if "since" in settings:
        settings["since"] = settings["since"].date().isoformat()
    _add_mailbox(name, "imap", settings, secret, owner, purpose)


def _add_mailbox(name: str, provider: str, settings: dict[str, Any], secret: str,
                 owner: str | None, purpose: str) -> None:
    new = lifecycle.NewMailbox(name, provider, settings, secret, owner, purpose)
    with session_scope(services().sessions) as session:
        click.echo(lifecycle.add(session, services().secret_box(), new).id)


@mailbox.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
def mailbox_list(as_json: bool) -> None:
    """Every mailbox with status, last sync, items, push and last error.

    PUSH says how `crmsync serve` watches each synced folder: "notify" (IMAP NOTIFY, all
    on one connection), "idle" (IMAP IDLE, a connection per folder) or "poll" (only the
    scheduler's poll: serve is not running, the connection budget is spent, or the
    provider has no IMAP push). JSON: "push" maps each folder to that word.
    """
    now = datetime.now(UTC)
    with session_scope(services().sessions) as session:
        counts = dict(
            session.execute(
                select(ActivitySource.mailbox_id, func.count()).group_by(ActivitySource.mailbox_id)
            ).all()
        )
        states: dict[int, list[SyncState]] = defaultdict(list)
        for state in session.scalars(select(SyncState).order_by(SyncState.resource)):
            states[state.mailbox_id].append(state)
        rows = [
            {
                "id": m.id, "name": m.name, "provider": m.provider, "purpose": m.purpose,
                "status": status_word(m), "last_sync": iso_utc(m.last_sync_at),
                "items": counts.get(m.id, 0), "push": push_modes(states[m.id], now),
                "last_error": m.last_error,
            }
            for m in session.scalars(select(Mailbox).where(active()).order_by(Mailbox.name))
        ]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    click.echo(f"{'NAME':20} {'PROVIDER':8} {'STATUS':13} {'LAST SYNC':22} {'ITEMS':>7}  "
               f"{'PUSH':30} ERROR")
    for r in rows:
        click.echo(
            f"{r['name']:20} {r['provider']:8} {r['status']:13} {r['last_sync'] or '-':22} "
            f"{r['items']:>7}  {_push_cell(r['push']):30} {r['last_error'] or ''}"
        )


def _push_cell(modes: dict[str, str]) -> str:
    """Return "notify INBOX, Work; poll Archive": each mode with its folders, or "-"."""
    by_mode: dict[str, list[str]] = defaultdict(list)
    for folder, mode in modes.items():
        by_mode[mode].append(folder)
    return "; ".join(f"{mode} {', '.join(folders)}" for mode, folders in by_mode.items()) or "-"


@mailbox.command("pause")
@click.argument("name")
@audited("mailbox.pause", lambda p: p["name"])
def mailbox_pause(name: str) -> None:
    """Stop syncing NAME until resumed (push and polls leave it alone)."""
    with session_scope(services().sessions) as session:
        lifecycle.pause(session, name)


@mailbox.command("resume")
@click.argument("name")
@audited("mailbox.resume", lambda p: p["name"])
def mailbox_resume(name: str) -> None:
    """Sync NAME again."""
    with session_scope(services().sessions) as session:
        lifecycle.resume(session, name)


@mailbox.command("remove")
@click.argument("name")
@audited("mailbox.remove", lambda p: p["name"])
def mailbox_remove(name: str) -> None:
    """Disconnect NAME for good: its credential is erased, its stored activities stay."""
    with session_scope(services().sessions) as session:
        lifecycle.remove(session, name)


@mailbox.command("resync")
@click.argument("name")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), required=True,
              help="Fetch the mailbox again from this date.")
@audited("mailbox.resync", lambda p: p["name"], lambda p: {"since": p["since"].date()
                                                            .isoformat()})
def mailbox_resync(name: str, since: datetime) -> None:
    """Fetch NAME again from a date (mail already stored is not stored twice)."""
    with session_scope(services().sessions) as session:
        lifecycle.resync_from(session, name, since.date())
