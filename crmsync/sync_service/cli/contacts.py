"""`crmsync contacts import FILE.vcf` and `crmsync contacts export`."""

from __future__ import annotations

from pathlib import Path

import click

from crmsync.crm.cards import export_cards, import_cards
from crmsync.crm.db import session_scope
from crmsync.crm.directory import load_directory
from crmsync.errors import UserError
from crmsync.mapping.vcard import VCardError, parse_vcards
from crmsync.sync_service.cli import main, services


@main.group()
def contacts() -> None:
    """vCard import and export."""


@contacts.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def contacts_import(files: tuple[Path, ...]) -> None:
    """Import vCard 2.1/3.0/4.0 files; existing contacts are completed, never overwritten."""
    svc = services()
    for path in files:
        try:
            cards, problems = parse_vcards(path.read_bytes(), path.name)
        except VCardError as exc:
            raise UserError(f"{path}: {exc}") from exc
        with session_scope(svc.sessions) as session:
            directory = load_directory(session, svc.internal_domains(session))
            counts, conflicts = import_cards(session, cards, directory)
        for problem in problems:
            click.echo(f"{path.name}: problem: {problem}")
        for conflict in conflicts:
            click.echo(f"{path.name}: conflict: {conflict}")
        text = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no cards"
        click.echo(f"{path.name}: {text}, {len(conflicts)} conflicts")


@contacts.command("export")
def contacts_export() -> None:
    """Every CRM contact as vCard 3.0, to stdout."""
    with session_scope(services().sessions) as session:
        for card in export_cards(session):
            click.echo(card, nl=False)
