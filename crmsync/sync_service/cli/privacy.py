"""`crmsync privacy`: erase an address, record an opt-out, privacy settings."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from crmsync.crm.db import drop_old_page_versions, session_scope
from crmsync.crm.erase import erase_address, purge_forbidden, suppress
from crmsync.crm.rules import FLAG_SETTINGS, load_capture_rules, set_flag
from crmsync.errors import UserError
from crmsync.mapping.addresses import normalize_address
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited, hashed


@main.group()
def privacy() -> None:
    """Erasure, opt-outs and privacy settings."""


@privacy.command("erase")
@click.argument("address")
@audited("privacy.erase", hashed("address"))
def privacy_erase(address: str) -> None:
    """Remove every body, participant row and contact data held for ADDRESS.

    Cases keep a redacted stub, other text quoting the address is redacted, and mail not
    yet sent to it is suppressed. The address is suppressed (as a hash), so the next sync
    does not bring it back.
    """
    with session_scope(services().sessions) as session:
        removed = erase_address(session, address, datetime.now(UTC))
    counts = ", ".join(f"{v} {k}" for k, v in sorted(removed.items()) if v) or "nothing held"
    click.echo(f"erased: {counts}; the address is suppressed from future syncs")
    _drop_old_page_versions()


def _drop_old_page_versions() -> None:
    """Warn when SQLite's log still holds the erased data (a reader was busy)."""
    if not drop_old_page_versions(services().engine):
        click.echo("warning: the database's write-ahead log still holds the erased data "
                   "(a reader was busy); run the command again", err=True)


@privacy.command("opt-out")
@click.argument("address")
@audited("privacy.opt-out", hashed("address"))
def privacy_opt_out(address: str) -> None:
    """Never capture ADDRESS again, and purge the mail already captured with it."""
    if normalize_address(address) is None:
        raise UserError(f"not a mail address: {address!r}")
    with session_scope(services().sessions) as session:
        suppress(session, address, "opted-out", datetime.now(UTC))
        session.flush()
        purged = purge_forbidden(session, load_capture_rules(session))
    click.echo(f"opted out; {len(purged)} captured activities purged")
    _drop_old_page_versions()


@privacy.command("set")
@click.argument("name", type=click.Choice([k.partition(".")[2] for k in FLAG_SETTINGS]))
@click.argument("value", type=click.Choice(["on", "off"]))
@audited("privacy.set", lambda p: p["name"], lambda p: {"value": p["value"]})
def privacy_set(name: str, value: str) -> None:
    """Turn a privacy setting on or off (store_body off: metadata only, old bodies dropped)."""
    with session_scope(services().sessions) as session:
        set_flag(session, f"privacy.{name}", value == "on")
        session.flush()
        purged = purge_forbidden(session, load_capture_rules(session))
    click.echo(f"privacy.{name} = {value}" + (f"; {len(purged)} purged" if purged else ""))
