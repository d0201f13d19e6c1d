"""`crmsync contacts import|export|suggestions|publish-rule`: vCards, the suggestions cards
made, and which contacts reps get in their mailbox's CRM folder."""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy import delete, select

from crmsync.crm.cards import export_cards, import_cards
from crmsync.crm.contact_publishing import SCOPES, ContactPublishRule, ContactSuggestion
from crmsync.crm.db import session_scope
from crmsync.crm.directory import load_directory
from crmsync.crm.models import Contact, Team, User
from crmsync.errors import UserError
from crmsync.mapping.vcard import VCardError, parse_vcards
from crmsync.sync_service.cli import main, services


@main.group()
def contacts() -> None:
    """vCards, suggested contact changes, and contacts in reps' address books."""


@contacts.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def contacts_import(files: tuple[Path, ...]) -> None:
    """Import vCard 2.1/3.0/4.0 files; existing contacts are completed, never overwritten
    (a differing value is listed, and kept in `crmsync contacts suggestions`)."""
    svc = services()
    for path in files:
        try:
            cards, problems = parse_vcards(path.read_bytes(), path.name)
        except VCardError as exc:
            raise UserError(f"{path}: {exc}") from exc
        with session_scope(svc.sessions) as session:
            directory = load_directory(session, svc.internal_domains(session))
            counts, conflicts = import_cards(session, cards, directory,
                                             source=f"vCard import {path.name}")
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


@contacts.command("suggestions")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
@click.option("--dismiss", type=int, multiple=True, metavar="ID",
              help="Remove these suggestions from the list (settled or refused).")
def contacts_suggestions(as_json: bool, dismiss: tuple[int, ...]) -> None:
    """List changes cards suggest for CRM contacts: values that differ from the CRM's,
    from vCard imports, mailbox address books and edits made in a rep's CRM contact
    folder. The CRM keeps its value until a person changes it."""
    with session_scope(services().sessions) as session:
        if dismiss:
            session.execute(delete(ContactSuggestion).where(ContactSuggestion.id.in_(dismiss)))
            return
        rows = session.execute(
            select(ContactSuggestion, Contact.external_id)
            .join(Contact, Contact.id == ContactSuggestion.contact_id)
            .order_by(ContactSuggestion.id)).all()
        for row, external_id in rows:
            item = {"id": row.id, "contact_external_id": external_id, "field": row.field,
                    "crm_value": row.crm_value, "suggested_value": row.suggested_value,
                    "source": row.source, "created_at": row.created_at.isoformat()}
            if as_json:
                click.echo(json.dumps(item, ensure_ascii=False))
            else:
                click.echo(f"{row.id}\t{external_id}\t{row.field}\tCRM {row.crm_value!r}\t"
                           f"suggested {row.suggested_value!r}\t{row.source}")


@contacts.group("publish-rule")
def publish_rule() -> None:
    """Which accounts' contacts reps get in the "CRM" contact folder of their mailbox."""


@publish_rule.command("set")
@click.option("--user", "user_email", help="The CRM user the rule is for.")
@click.option("--team", help="The team the rule is for (a user's own rule wins).")
@click.option("--accounts", type=click.Choice(SCOPES), required=True,
              help="owned: accounts the rep owns; team: accounts their team owns; all; "
              "none: nothing (removes what was written).")
def publish_rule_set(user_email: str | None, team: str | None, accounts: str) -> None:
    """Set the rule of a user or a team. At each sync of a rep's mailbox (Microsoft 365,
    Exchange, CalDAV/CardDAV) the contacts of those accounts are written to its "CRM"
    contact folder (address book), a contact leaving the scope is removed from it (never
    from the CRM), and edits made there are listed by `crmsync contacts suggestions`."""
    if bool(user_email) == bool(team):
        raise UserError("give exactly one of --user and --team")
    with session_scope(services().sessions) as session:
        if user_email:
            user_id = session.scalar(select(User.id).where(User.email == user_email.lower()))
            if user_id is None:
                raise UserError(f"no CRM user {user_email}")
            where = ContactPublishRule.user_id == user_id
            new = ContactPublishRule(user_id=user_id, accounts=accounts)
        else:
            team_id = session.scalar(select(Team.id).where(Team.name == team))
            if team_id is None:
                raise UserError(f"no team {team!r}")
            where = ContactPublishRule.team_id == team_id
            new = ContactPublishRule(team_id=team_id, accounts=accounts)
        rule = session.scalars(select(ContactPublishRule).where(where)).one_or_none()
        if rule is None:
            session.add(new)
        else:
            rule.accounts = accounts
    click.echo(f"{user_email or team}: {accounts}")


@publish_rule.command("list")
def publish_rule_list() -> None:
    """Every rule: user or team, and its accounts."""
    with session_scope(services().sessions) as session:
        rows = session.execute(
            select(ContactPublishRule, User.email, Team.name)
            .outerjoin(User, User.id == ContactPublishRule.user_id)
            .outerjoin(Team, Team.id == ContactPublishRule.team_id)
            .order_by(ContactPublishRule.id)).all()
        for rule, email, team in rows:
            click.echo(f"{'user ' + email if email else 'team ' + team}\t{rule.accounts}")


