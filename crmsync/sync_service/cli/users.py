"""`crmsync user`: CRM users, and the password that lets one sign in to the admin console."""

from __future__ import annotations

import click

from crmsync.crm.db import session_scope
from crmsync.crm.sign_in import ROLES, save_user
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited
from crmsync.sync_service.cli.mailboxes import _secret_from_env
from crmsync.sync_service.support.settings import split_phones


@main.group()
def user() -> None:
    """CRM users and console sign-in."""


@user.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--role", type=click.Choice(sorted(ROLES)),
              help="admin, manager, rep or agent (a new user: rep; else unchanged).")
@click.option("--team", help="Team name (created when new).")
@click.option("--password-env", help="Variable holding a console password (12+ characters).")
@click.option("--phone", help="Mobile number for alerts by text message (+4915112345678); "
              "'' removes it.")
@audited("user.add", lambda p: p["email"].lower(),
         lambda p: {"role": p["role"], "password_set": bool(p["password_env"])})
def user_add(email: str, name: str, role: str | None, team: str | None,
             password_env: str | None, phone: str | None) -> None:
    """Create or update a CRM user; a password lets them sign in to the admin console."""
    password = _secret_from_env(password_env) if password_env else None
    phones = split_phones(phone) if phone else []
    if len(phones) > 1:
        raise UserError("give one phone number")
    with session_scope(services().sessions) as session:
        created = save_user(session, email, name, role, team, password)
        if phone is not None:
            created.phone = phones[0] if phones else None
        click.echo(created.id)
