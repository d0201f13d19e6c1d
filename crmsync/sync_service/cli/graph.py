"""`crmsync mailbox add graph` and `crmsync graph`: Microsoft 365 mailboxes.

App-only (``--secret-env`` / ``--certificate``) for one mailbox (``--address``) or every
member of a mail-enabled group (``--group``: ``NAME-<local part>`` each, sharing the
app registration's secret; re-running adds only new members). ``--delegated`` signs a
single user in with the device code flow and stores msal's token cache, encrypted and
bound to the row like every credential.

Push: with ``--notification-url`` (or ``CRMSYNC_GRAPH_NOTIFICATION_URL``) the
mailbox's change-notification subscriptions are created on connect; the embedded
scheduler renews them; ``crmsync graph unsubscribe`` removes them on disconnect.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited
from crmsync.sync_service.cli.mailboxes import _add_mailbox, _secret_from_env, mailbox_add


def _graph_secret(secret_env: str | None, certificate: Path | None) -> tuple[str, str]:
    """The credential kind and the secret to seal: a client secret or a certificate's PEM.

    A certificate file is checked now (key present, unencrypted, the certificate's own),
    so a file msal could not sign with is refused before anything is saved.
    """
    if bool(secret_env) == bool(certificate):
        raise UserError("give exactly one of --secret-env VAR, --certificate FILE or --delegated")
    if certificate:
        from crmsync.connectors.graph.auth import certificate_credential

        pem = certificate.read_text(encoding="utf-8", errors="replace")  # DER/PFX: not PEM
        certificate_credential(pem)
        return "certificate", pem
    return "secret", _secret_from_env(str(secret_env))


@mailbox_add.command("graph")
@click.argument("name")
@click.option("--tenant", required=True, help="Directory (tenant) id or domain.")
@click.option("--client-id", required=True, help="Application (client) id.")
@click.option("--secret-env", help="Variable holding the client secret.")
@click.option("--certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM file with the certificate and its unencrypted private key.")
@click.option("--delegated", is_flag=True,
              help="Sign the mailbox's own user in (device code) instead of app-only.")
@click.option("--address", help="The mailbox's address (UPN).")
@click.option("--group", help="Register every member of this mail-enabled group (id or "
              "address; app-only) as NAME-<local part>.")
@click.option("--authority-url", help="Sign-in host (default https://login.microsoftonline.com).")
@click.option("--graph-url", help="API host (default https://graph.microsoft.com).")
@click.option("--owner", help="Email of the CRM user who owns the mailbox.")
@click.option("--purpose", type=click.Choice(["personal", "support"]), default="personal")
@click.option("--folders", help="Comma-separated mail folders (default: inbox,sentitems).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Backfill from.")
@click.option("--no-calendar", is_flag=True, help="Do not sync the calendar.")
@click.option("--no-contacts", is_flag=True, help="Do not sync contacts.")
@click.option("--notification-url", help="Public https URL of /webhooks/graph (push).")
@audited("mailbox.add", lambda p: p["name"], lambda p: {"provider": "graph"})
def mailbox_add_graph(name: str, secret_env: str | None, certificate: Path | None,
                      delegated: bool, group: str | None, **options: Any) -> None:
    """Register a Microsoft 365 mailbox (app-only or delegated), or a group's; prints ids.

    A sign-in or API host given must be https on port 443 at a public address (or on a
    network in CRMSYNC_ALLOWED_PRIVATE_NETWORKS): checked now, and again at every request.
    """
    owner, purpose = options.pop("owner"), options.pop("purpose")
    url = options.pop("notification_url") or os.environ.get("CRMSYNC_GRAPH_NOTIFICATION_URL")
    if bool(options.get("address")) == bool(group):
        raise UserError("give exactly one of --address ADDR or --group GROUP")
    if delegated and (group or secret_env or certificate):
        raise UserError("--delegated signs one user in: no --group, --secret-env or "
                        "--certificate with it")
    settings = _settings(options)
    if delegated:
        settings["credential"] = "delegated"
        secret = _device_sign_in(settings)
    else:
        settings["credential"], secret = _graph_secret(secret_env, certificate)
    names = _add_group(name, group, settings, secret, (owner, purpose)) if group else [name]
    if not group:
        _add_mailbox(name, "graph", settings, secret, owner, purpose)
    for added in names if url else []:
        _subscribe(added, url)


def _settings(options: dict[str, Any]) -> dict[str, Any]:
    settings = {k: v for k, v in options.items() if v not in (None, False)}
    if "folders" in settings:
        settings["folders"] = [f.strip() for f in settings["folders"].split(",") if f.strip()]
    if "since" in settings:
        settings["since"] = settings["since"].date().isoformat()
    settings["calendar"] = not settings.pop("no_calendar", False)
    settings["contacts"] = not settings.pop("no_contacts", False)
    return settings


def _device_sign_in(settings: dict[str, Any]) -> str:
    """Run the device code flow; the user opens the URL and types the code."""
    from crmsync.connectors.graph.auth import device_sign_in
    from crmsync.connectors.graph.settings import GraphSettings
    from crmsync.connectors.https import ca_bundle, pinned_session

    parsed = GraphSettings.from_mapping(settings)
    with pinned_session(ca_bundle()) as session:
        return device_sign_in(parsed.authority, parsed.client_id, parsed.graph_url, session,
                              _show_device_code)


def _show_device_code(flow: dict[str, Any]) -> None:
    click.echo(f"To sign in, open {flow['verification_uri']} and enter the code "
               f"{flow['user_code']}", err=True)
    click.echo("waiting for the sign-in ...", err=True)


def _add_group(name: str, group: str, settings: dict[str, Any], secret: str,
               owner_purpose: tuple[str | None, str]) -> list[str]:
    """Register one mailbox per group member not registered yet; return the new names."""
    from crmsync.connectors.graph import GraphConnector
    from crmsync.connectors.graph.groups import group_members

    with GraphConnector.from_settings({**settings, "address": group}, secret) as connector:
        members = group_members(connector.client, group)
    with session_scope(services().sessions) as session:
        known = {str((s or {}).get("address", "")).lower() for s in session.scalars(
            select(Mailbox.settings).where(Mailbox.provider == "graph"))}
    added = []
    for member in members:
        if member.address in known:
            continue
        member_name = f"{name}-{member.address.split('@')[0]}"
        _add_mailbox(member_name, "graph", {**settings, "address": member.address}, secret,
                     *owner_purpose)
        added.append(member_name)
    click.echo(f"{len(added)} new of {len(members)} group members registered", err=True)
    return added


def _subscribe(name: str, url: str) -> None:
    from crmsync.sync_service.triggers.graph_subscriptions import subscribe_mailbox

    count = subscribe_mailbox(services(), name, url)
    click.echo(f"{name}: {count} change-notification subscriptions created", err=True)


@main.group("graph")
def graph() -> None:
    """Microsoft 365 push subscriptions."""


@graph.command("subscribe")
@click.argument("name")
@click.option("--notification-url", required=True, help="Public https URL of /webhooks/graph.")
def graph_subscribe(name: str, notification_url: str) -> None:
    """Create the mailbox's change-notification subscriptions."""
    _subscribe(name, notification_url)


@graph.command("renew")
def graph_renew() -> None:
    """Renew every subscription close to expiry (the scheduler does this too)."""
    from crmsync.sync_service.triggers.graph_subscriptions import renew_due

    click.echo(f"{renew_due(services())} subscriptions renewed")


@graph.command("unsubscribe")
@click.argument("name")
def graph_unsubscribe(name: str) -> None:
    """Remove the mailbox's subscriptions (before disconnecting it)."""
    from crmsync.sync_service.triggers.graph_subscriptions import unsubscribe_mailbox

    click.echo(f"{unsubscribe_mailbox(services(), name)} subscriptions removed")
