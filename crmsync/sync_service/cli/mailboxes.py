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
from crmsync.sync_service.triggers.soon import sync_soon


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
@click.option("--password-env",
              help="Variable holding the password or token (required unless --oauth-authority).")
@click.option("--auth", type=click.Choice(["password", "xoauth2"]), default="password")
@click.option("--owner", help="Email of the CRM user who owns the mailbox.")
@click.option("--purpose", type=click.Choice(["personal", "support"]), default="personal")
@click.option("--folders", help="Comma-separated folders (default: Inbox and Sent).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Backfill from.")
@click.option("--smtp-host")
@click.option("--smtp-port", type=int)
@click.option("--smtp-security", type=click.Choice(["ssl", "starttls", "none"]))
@click.option("--smtp-auth", type=click.Choice(["login", "none"]),
              help="login (default): AUTH with the mailbox's credentials, a server that "
                   "offers none is refused; none: a relay that takes mail without a login.")
@click.option("--oauth-token-url",
              help="xoauth2: the provider's token endpoint; --password-env then holds a "
                   "refresh token, and access tokens are renewed before they expire.")
@click.option("--oauth-authority",
              help="xoauth2 at Microsoft: https://login.microsoftonline.com/<tenant>; the "
                   "user signs in with a device code, the secret is msal's token cache.")
@click.option("--oauth-client-id", help="xoauth2: the OAuth client the refresh token is for.")
@click.option("--oauth-client-secret-env", help="xoauth2: variable holding its client secret.")
@click.option("--oauth-scope", help="xoauth2: scope(s) to ask for, space-separated (default: "
              "as granted; at Microsoft IMAP.AccessAsUser.All and SMTP.Send).")
@audited("mailbox.add", lambda p: p["name"],
         lambda p: {"provider": "imap", "owner": p["owner"], "purpose": p["purpose"]})
def mailbox_add_imap(name: str, password_env: str | None, owner: str | None, purpose: str,
                     **options: Any) -> None:
    """Register an IMAP mailbox; prints its id.

    The IMAP and SMTP servers must be public mail servers (or on a network in
    CRMSYNC_ALLOWED_PRIVATE_NETWORKS): checked now, and again at every connection.
    With --auth xoauth2, --password-env holds an access token (used until it expires)
    or, with --oauth-token-url and --oauth-client-id, a refresh token: the stored
    credential is then renewed before each access token expires, and sealed again.
    With --oauth-authority and --oauth-client-id (Microsoft 365) the user signs in with a
    device code instead, and --password-env is not read.
    """
    if options.get("oauth_authority"):
        secret = _microsoft_sign_in(options)
    elif password_env:
        secret = _imap_secret(_secret_from_env(password_env), options)
    else:
        raise UserError("give --password-env VAR (or --oauth-authority to sign in)")
    settings = {k: v for k, v in options.items() if v is not None}
    if "folders" in settings:
        settings["folders"] = [f.strip() for f in settings["folders"].split(",") if f.strip()]
    if "since" in settings:
        settings["since"] = settings["since"].date().isoformat()
    _add_mailbox(name, "imap", settings, secret, owner, purpose)


def _microsoft_sign_in(options: dict[str, Any]) -> str:
    """Sign the mailbox's user in at Microsoft (device code); return the msal credential."""
    authority, client_id = options.pop("oauth_authority"), options.pop("oauth_client_id")
    scope = options.pop("oauth_scope")
    if options.pop("oauth_token_url") or options.pop("oauth_client_secret_env"):
        raise UserError("--oauth-authority signs in with a device code: no --oauth-token-url "
                        "or --oauth-client-secret-env with it")
    if options.get("auth") != "xoauth2" or not client_id:
        raise UserError("--oauth-authority needs --auth xoauth2 and --oauth-client-id")
    from crmsync.connectors.oauth2 import MICROSOFT_SCOPES, microsoft_sign_in

    scopes = scope.split() if scope else list(MICROSOFT_SCOPES)
    return microsoft_sign_in(authority, client_id, scopes, _show_device_code)


def _show_device_code(flow: Any) -> None:
    click.echo(f"To sign in, open {flow['verification_uri']} and enter the code "
               f"{flow['user_code']}", err=True)
    click.echo("waiting for the sign-in ...", err=True)


def _imap_secret(given: str, options: dict[str, Any]) -> str:
    """Return the secret to seal: the password or token given, or a refreshable OAuth
    credential built around the refresh token given (the ``--oauth-*`` options are
    taken out of ``options``: they are part of the credential, not of the settings)."""
    options.pop("oauth_authority")
    token_url, client_id = options.pop("oauth_token_url"), options.pop("oauth_client_id")
    client_secret_env, scope = options.pop("oauth_client_secret_env"), options.pop("oauth_scope")
    if not (token_url or client_id or client_secret_env or scope):
        return given
    if options.get("auth") != "xoauth2" or not token_url or not client_id:
        raise UserError("--oauth-* options need --auth xoauth2, --oauth-token-url and "
                        "--oauth-client-id")
    from crmsync.connectors.oauth2 import refreshable_credential

    client_secret = _secret_from_env(client_secret_env) if client_secret_env else None
    return refreshable_credential(token_url, client_id, given, client_secret, scope)


def _add_mailbox(name: str, provider: str, settings: dict[str, Any], secret: str,
                 owner: str | None, purpose: str) -> None:
    new = lifecycle.NewMailbox(name, provider, settings, secret, owner, purpose)
    with session_scope(services().sessions) as session:
        click.echo(lifecycle.add(session, services().secret_box(), new).id)
    sync_soon(services(), name)


@mailbox.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
def mailbox_list(as_json: bool) -> None:
    """Every mailbox with status, last sync, items, push and last error.

    PUSH says how `crmsync serve` watches each synced folder: "notify" (IMAP NOTIFY, all
    on one connection), "idle" (IMAP IDLE, a connection per folder), "stream" (Exchange
    streaming notifications) or "poll" (only polls: serve is not running, the connection
    budget is spent, the Exchange server refused streaming, or the provider has no push).
    JSON: "push" maps each folder to that word.
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
    sync_soon(services(), name)


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
