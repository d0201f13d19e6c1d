"""`crmsync followups`: customer mail a rep has not answered in time, and their alerts."""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.followups import HOURS_KEY, open_followups
from crmsync.crm.models import Setting, User
from crmsync.crm.work_hours import hours_spec, set_hours
from crmsync.errors import UserError
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.instants import parse_instant


@main.group(invoke_without_command=True)
@click.option("--as-of", help="ISO-8601 instant (default: now).")
@click.option("--rep", help="Only this rep's follow-ups (their address).")
@click.pass_context
def followups(ctx: click.Context, as_of: str | None, rep: str | None) -> None:
    """Customer mail reps have not answered within their business hours (JSON Lines).

    One object a line: id, rep, contact, account, opportunity, mail (activity_id,
    subject, internet_message_id, received) and due, due first.
    """
    if ctx.invoked_subcommand is not None:
        return
    with session_scope(services().sessions) as session:
        for followup in open_followups(session, parse_instant(as_of), rep):
            click.echo(json.dumps(followup.shape(), ensure_ascii=False))


@followups.command("check")
@click.option("--as-of", help="ISO-8601 instant (default: now).")
def followups_check(as_of: str | None) -> None:
    """Alert each rep once per overdue follow-up (mail, webhook), then deliver."""
    from crmsync.sync_service.followups import check_followups
    from crmsync.sync_service.support import deliver_outbox

    svc = services()
    for rep, activity_id in check_followups(svc, parse_instant(as_of)):
        click.echo(f"alerted: {rep} mail {activity_id}")
    counts = deliver_outbox(svc)
    if counts:
        click.echo("outbox: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


@followups.command("hours")
@click.argument("spec", required=False)
@click.option("--user", "email", help="This user's hours (default: the organization's).")
@click.option("--holidays", default="",
              help="A holidays country code (DE, US-CA) and/or ISO dates, ';'-separated.")
def followups_hours(spec: str | None, email: str | None, holidays: str) -> None:
    """Show or set working hours ('Mon-Fri 09:00-17:00 Europe/Berlin').

    Without --user: the organization's default, for users with none of their own.
    """
    with session_scope(services().sessions) as session:
        user_id = None
        if email:
            user_id = session.scalar(select(User.id).where(User.email == email.strip().lower()))
            if user_id is None:
                raise UserError(f"no CRM user {email!r}")
        if spec:
            set_hours(session, user_id, spec, holidays)
        hours, days_off, origin = hours_spec(session, user_id)
        click.echo(f"{hours}" + (f"; holidays {days_off}" if days_off else "") + f" ({origin})")


@followups.command("wait")
@click.argument("hours", type=click.FloatRange(min=0.5, max=1000))
def followups_wait(hours: float) -> None:
    """Set how many business hours customer mail may wait (default 12)."""
    with session_scope(services().sessions) as session:
        row = session.get(Setting, HOURS_KEY) or Setting(key=HOURS_KEY)
        row.value = str(hours)
        session.add(row)
