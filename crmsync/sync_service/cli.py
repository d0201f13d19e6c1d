"""The ``crmsync`` command line (contract in INTERFACES.md).

Errors a user can act on (:class:`UserError`) print as one line and exit 1;
everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select

from crmsync.crm.db import session_scope, upgrade_schema
from crmsync.crm.export import iso_utc, iter_activities, iter_cases
from crmsync.crm.importer import import_csv
from crmsync.crm.models import ActivitySource, Mailbox, Setting, User
from crmsync.errors import CrmSyncError, UserError
from crmsync.sync_service.context import INTERNAL_DOMAINS_SETTING, Services, build_services
from crmsync.sync_service.engine.run import SyncReport, import_files, sync_mailbox


class CrmSyncGroup(click.Group):
    """A group that turns :class:`CrmSyncError` into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrmSyncError as exc:
            problems = getattr(exc, "problems", [])
            click.echo(f"crmsync: error: {exc}", err=True)
            for problem in problems:
                click.echo(f"  - {problem}", err=True)
            ctx.exit(1)


@click.group(cls=CrmSyncGroup)
@click.option("--database-url", envvar="CRMSYNC_DATABASE_URL", help="SQLAlchemy URL.")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, verbose: bool) -> None:
    """crmsync: the mailbox feeds the CRM by itself."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    overrides = {"DATABASE_URL": database_url} if database_url else None
    ctx.obj = build_services(overrides)
    ctx.call_on_close(ctx.obj.dispose)


def services() -> Services:
    return click.get_current_context().find_object(Services)


# -- db --------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema."""
    upgrade_schema(services().engine)
    click.echo("database is up to date")


# -- crm -------------------------------------------------------------------------------------


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
def org_set_domains(domains: tuple[str, ...]) -> None:
    """Set the organization's own mail domains (mail among them only is internal)."""
    value = ";".join(d.strip().lower() for d in domains)
    with session_scope(services().sessions) as session:
        setting = session.get(Setting, INTERNAL_DOMAINS_SETTING) or Setting(
            key=INTERNAL_DOMAINS_SETTING
        )
        setting.value = value
        session.add(setting)
    click.echo(f"internal domains: {value}")


# -- mailboxes -------------------------------------------------------------------------------


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
def mailbox_add_imap(name: str, password_env: str, owner: str | None, purpose: str,
                     **options: Any) -> None:
    """Register an IMAP mailbox; prints its id."""
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


# -- sync and import -------------------------------------------------------------------------


def _print_report(report: SyncReport) -> None:
    counts = ", ".join(f"{v} {k}" for k, v in sorted(report.counters.items())) or "no changes"
    line = f"{report.name}: {report.status}: {counts}"
    if report.error:
        line += f" ({report.error})"
    click.echo(line)


@main.command()
@click.option("--mailbox", "names", multiple=True, help="Only this mailbox (repeatable).")
@click.option("--once", is_flag=True, help="Return when caught up instead of polling.")
def sync(names: tuple[str, ...], once: bool) -> None:
    """Sync one or all mailboxes."""
    svc = services()
    with session_scope(svc.sessions) as session:
        known = list(session.scalars(select(Mailbox.name).order_by(Mailbox.name)))
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UserError(f"no mailbox named {', '.join(unknown)}")
    targets = list(names) or known
    failed = False
    while True:
        for name in targets:
            report = sync_mailbox(svc, name)
            _print_report(report)
            failed |= report.status not in ("ok", "busy")
        if once:
            break
        time.sleep(svc.config["POLL_SECONDS"])
    if failed:
        sys.exit(2)


@main.group()
def mail() -> None:
    """Mail files."""


@mail.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def mail_import(files: tuple[Path, ...]) -> None:
    """Import .eml / .mbox files through the same pipeline as a mailbox."""
    _print_report(import_files(services(), list(files)))


# -- export ----------------------------------------------------------------------------------


@main.group()
def export() -> None:
    """JSON Lines exports."""


@export.command("activities")
def export_activities() -> None:
    """Every activity with its participants, links and sources."""
    with session_scope(services().sessions) as session:
        for row in iter_activities(session):
            click.echo(json.dumps(row, ensure_ascii=False))


@export.command("cases")
def export_cases() -> None:
    """Every case."""
    with session_scope(services().sessions) as session:
        for row in iter_cases(session):
            click.echo(json.dumps(row, ensure_ascii=False))


# -- api keys and server ---------------------------------------------------------------------


@main.group()
def apikey() -> None:
    """API keys for scripts and the preview page."""


@apikey.command("create")
@click.argument("email")
def apikey_create(email: str) -> None:
    """Print a new API key for that CRM user."""
    from crmsync.sync_service.auth import create_api_key

    with session_scope(services().sessions) as session:
        click.echo(create_api_key(session, email))


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=8000)
@click.option("--no-scheduler", is_flag=True, help="Do not sync mailboxes in the background.")
def serve(host: str, port: int, no_scheduler: bool) -> None:
    """Serve the API and run the embedded scheduler."""
    from crmsync.sync_service.app import create_app
    from crmsync.sync_service.scheduler import Scheduler

    svc = services()
    app = create_app(services=svc)
    scheduler = None if no_scheduler else Scheduler(svc)
    if scheduler:
        scheduler.start()
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        if scheduler:
            scheduler.stop()

