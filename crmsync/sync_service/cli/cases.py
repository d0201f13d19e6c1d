"""`crmsync cases`: overdue cases, the SLA check, the outbox, rules, templates, reports."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from crmsync.crm.case_setup import save_case_rule, save_template
from crmsync.crm.db import session_scope
from crmsync.crm.export import case_shape, iso_utc
from crmsync.crm.models import Account, Case
from crmsync.crm.support import OutboxMessage, SupportCase, overdue_cases
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.instants import parse_instant
from crmsync.sync_service.support import check_sla, deliver_outbox
from crmsync.sync_service.support.settings import OPTIONS, raw_settings, store_setting


def _echo_json(row: dict[str, Any]) -> None:
    click.echo(json.dumps(row, ensure_ascii=False))


@main.group()
def cases() -> None:
    """Support cases: SLA, outbox, rules and templates, reports."""


@cases.command("overdue")
@click.option("--as-of", help="ISO-8601 instant (default: now).")
def cases_overdue(as_of: str | None) -> None:
    """Cases whose first response is overdue at that instant (JSON Lines, case shape)."""
    with session_scope(services().sessions) as session:
        for case in session.scalars(overdue_cases(parse_instant(as_of))).all():
            _echo_json(case_shape(case, session))


@cases.command("check-sla")
@click.option("--as-of", help="ISO-8601 instant (default: now).")
def cases_check_sla(as_of: str | None) -> None:
    """Alert once per breached first response, then deliver the alerts."""
    svc = services()
    for number in check_sla(svc, parse_instant(as_of)):
        click.echo(f"alerted: {number}")
    _print_delivery(deliver_outbox(svc))


@cases.command("deliver")
def cases_deliver() -> None:
    """Deliver queued acknowledgements, alert mails and webhook calls."""
    _print_delivery(deliver_outbox(services()))


def _print_delivery(counts: Counter[str]) -> None:
    if counts:
        click.echo("outbox: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


@cases.command("outbox")
@click.option("--status", help="Only rows with this status (pending, sending, sent, ...).")
def cases_outbox(status: str | None) -> None:
    """The outbox as JSON Lines; ``sending`` rows may or may not have been delivered."""
    with session_scope(services().sessions) as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if status:
            query = query.where(OutboxMessage.status == status)
        for row in session.scalars(query):
            case = session.get(Case, row.case_id) if row.case_id else None
            _echo_json({
                "id": row.id, "kind": row.kind, "case": case.number if case else None,
                "to": row.to_address, "subject": row.subject, "status": row.status,
                "reason": row.reason, "attempts": row.attempts, "message_id": row.message_id,
                "created_at": iso_utc(row.created_at), "sent_at": iso_utc(row.sent_at),
                "last_error": row.last_error,
            })


@cases.command("close")
@click.argument("number")
def cases_close(number: str) -> None:
    """Close a case; a later reply reopens it or opens a follow-up (see settings)."""
    with session_scope(services().sessions) as session:
        case = session.scalars(select(Case).where(Case.number == number.upper())).first()
        if case is None:
            raise UserError(f"no case {number}")
        case.status = "Closed"
        support = session.get(SupportCase, case.id)
        if support is None:
            support = SupportCase(case_id=case.id, reopened_count=0, requester="", reply_from="")
            session.add(support)
        support.closed_at = datetime.now(UTC)
    click.echo(f"{number.upper()}: Closed")


@cases.command("report")
@click.option("--category", help="Only this category (e.g. Complaint).")
def cases_report(category: str | None) -> None:
    """Cases counted by ISO week, category and account (JSON Lines)."""
    counts: Counter[tuple[str, str, str | None, str]] = Counter()
    with session_scope(services().sessions) as session:
        query = select(Case, Account).outerjoin(Account, Case.account_id == Account.id)
        if category:
            query = query.where(Case.category == category)
        for case, account in session.execute(query):
            year, week, _ = case.created_at.isocalendar()
            key = (f"{year}-W{week:02d}", case.category, account.external_id if account else None,
                   account.name if account else "")
            counts[key] += 1
    for (week, cat, external_id, name), count in sorted(counts.items(), key=_report_order):
        _echo_json({"week": week, "category": cat, "account_external_id": external_id,
                    "account": name, "cases": count})


def _report_order(item: tuple[tuple[str, str, str | None, str], int]) -> tuple[str, str, str]:
    (week, category, external_id, _), _ = item
    return week, category, external_id or ""


@cases.command("settings")
@click.argument("name", required=False)
@click.argument("value", required=False)
def cases_settings(name: str | None, value: str | None) -> None:
    """Show the support settings, or set NAME to VALUE."""
    with session_scope(services().sessions) as session:
        if name is not None:
            if value is None:
                raise UserError("give a value to set, e.g. `crmsync cases settings sla_hours 8`")
            store_setting(session, name, value)
        for key, current in raw_settings(session).items():
            click.echo(f"{key} = {current!r}  # {OPTIONS[key][2]}")


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Read a CSV (header row) or JSON (a list of objects) file."""
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise UserError(f"{path}: expected a JSON list of objects")
            return data
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: {exc}") from exc


@cases.group("rules")
def cases_rules() -> None:
    """Keyword rules: category, priority, owner or queue, templates."""


@cases_rules.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def rules_import(file: Path) -> None:
    """Load rules from CSV/JSON (name,keywords,category,priority,owner_email,queue,
    templates,sla_hours,position); a rule with the same name is replaced."""
    rows = _read_rows(file)
    with session_scope(services().sessions) as session:
        for number, row in enumerate(rows, start=1):
            save_case_rule(session, row, f"{file.name} row {number}")
    click.echo(f"{len(rows)} rule(s) imported")


@cases.group("templates")
def cases_templates() -> None:
    """Reply templates (acknowledgements, and what the task pane suggests)."""


@cases_templates.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def templates_import(file: Path) -> None:
    """Load templates from CSV/JSON (name,subject,body,keywords,category,language)."""
    rows = _read_rows(file)
    with session_scope(services().sessions) as session:
        for number, row in enumerate(rows, start=1):
            save_template(session, row, f"{file.name} row {number}")
    click.echo(f"{len(rows)} template(s) imported")
