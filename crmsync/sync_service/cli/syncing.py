"""`crmsync sync` and `crmsync mail import`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.progress import progress_for_terminal
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.run import SyncReport, import_files, sync_mailbox
from crmsync.sync_service.mailboxes.lifecycle import active, word
from crmsync.sync_service.support import deliver_outbox


def _with_progress(svc: Services):
    """Add a progress line to ``svc``'s page hooks when stderr is a terminal."""
    progress = progress_for_terminal()
    if progress is not None:
        svc.page_hooks.append(progress)
    return progress


def _print_report(report: SyncReport, progress=None) -> None:
    if progress is not None:
        progress.finish()
    counts = ", ".join(f"{v} {k}" for k, v in sorted(report.counters.items())) or "no changes"
    line = f"{report.name}: {word(report.status)}: {counts}"
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
        known = list(session.scalars(select(Mailbox.name).where(active()).order_by(Mailbox.name)))
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UserError(f"no mailbox named {', '.join(unknown)}")
    targets = list(names) or known
    progress = _with_progress(svc)
    failed = False
    while True:
        for name in targets:
            report = sync_mailbox(svc, name)
            _print_report(report, progress)
            failed |= report.status not in ("ok", "busy", "paused")
        deliver_outbox(svc)  # acknowledgements go out after the commits that queued them
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
    svc = services()
    progress = _with_progress(svc)
    _print_report(import_files(svc, list(files)), progress)
