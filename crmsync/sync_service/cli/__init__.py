"""The ``crmsync`` command line (reference in docs/cli.md), one module per command group.

Command modules are imported only when their command runs (or ``--help`` of that
command is asked for): importing all of them pulled in SQLAlchemy, Flask, requests and
icalendar for every invocation, ~1 s before ``crmsync sync`` could open a connection.
``crmsync --help`` lists the commands from :data:`COMMANDS` without importing any.

Errors a user can act on (:class:`UserError`) print as one line and exit 1;
everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

import click

from crmsync.errors import CrmSyncError

if TYPE_CHECKING:
    from crmsync.sync_service.context import Services

#: Command name → (modules under this package that define it, its short help).
#: The modules register the command on :func:`main` when imported; the help text must
#: match the command's own (``tests/cli/test_lazy_commands.py`` checks both).
#: ``mailbox`` needs ``graph``, ``ews`` and ``caldav`` too: they add
#: ``mailbox add graph|ews|caldav``.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "apikey": (("apikeys",), "API keys for scripts and the preview page."),
    "audit": (("audit",), "The audit log of security-relevant actions."),
    "calendar": (("calendar", "calendar_booking"),
                 "iCalendar files, the meetings feed, and meetings booked in the CRM."),
    "cases": (("cases", "case_replies"),
              "Support cases: SLA, outbox, rules and templates, reports."),
    "contacts": (("contacts",),
                 "vCards, suggested contact changes, and contacts in reps' address books."),
    "crm": (("crmdata",), "CRM data."),
    "db": (("database",), "Database schema."),
    "export": (("exports",), "JSON Lines exports."),
    "followups": (
        ("followups",),
        "Customer mail reps have not answered within their business hours (JSON Lines).",
    ),
    "graph": (("graph",), "Microsoft 365 push subscriptions."),
    "mail": (("syncing",), "Mail files."),
    "mailbox": (("mailboxes", "graph", "ews", "caldav"), "Connected mailboxes."),
    "manifest": (
        ("manifest",),
        "Write manifest.xml (add-in-only) and manifest.json (unified) with their icons.",
    ),
    "org": (("crmdata",), "Organization settings."),
    "privacy": (("privacy",), "Erasure, opt-outs and privacy settings."),
    "quarantine": (("quarantine",), "Items crmsync could not process: list, retry, discard."),
    "relink": (
        ("relink",),
        "Re-evaluate automatic links of recent activities; a person's links stay.",
    ),
    "report": (("reports",), "Reports on customer relationships."),
    "rules": (("rules",), "Privacy rules: what is never captured."),
    "secrets": (("secrets",), "The key that encrypts stored credentials: status, rotation."),
    "serve": (("apikeys",),
              "Serve the API (waitress, a production WSGI server) and run the embedded "
              "scheduler."),
    "sync": (("syncing",), "Sync one or all mailboxes."),
    "user": (("users",), "CRM users and console sign-in."),
    "worker": (
        ("workers",),
        "Take mailbox syncs from the broker (CRMSYNC_BROKER_URL); run any number of them.",
    ),
}


class CrmSyncGroup(click.Group):
    """The root group: loads command modules on demand; :class:`CrmSyncError` → exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            # Even when registered: another command's module may have registered it with
            # only some of its modules (``user`` imports ``mailboxes``, not ``graph``).
            load_commands(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List every command with its short help, importing none that is not loaded."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is None:
                # A stand-in shortens the text exactly as the real command would.
                stand_in = click.Command(name, help=COMMANDS[name][1])
                rows.append((name, stand_in.get_short_help_str(limit)))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrmSyncError as exc:
            problems = getattr(exc, "problems", [])
            click.echo(f"crmsync: error: {exc}", err=True)
            for problem in problems:
                click.echo(f"  - {problem}", err=True)
            ctx.exit(1)


def load_commands(*names: str) -> None:
    """Import the modules defining ``names`` (all commands when none are given)."""
    for name in names or tuple(COMMANDS):
        for module in COMMANDS[name][0]:
            importlib.import_module(f"{__name__}.{module}")


@click.group(cls=CrmSyncGroup)
@click.option("--database-url", envvar="CRMSYNC_DATABASE_URL", help="SQLAlchemy URL.")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, verbose: bool) -> None:
    """crmsync: the mailbox feeds the CRM by itself."""
    from crmsync.sync_service.startup import build_services

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from crmsync.sync_service.log_redaction import install_redaction

    install_redaction()
    overrides = {"DATABASE_URL": database_url} if database_url else None
    ctx.obj = build_services(overrides)
    ctx.call_on_close(ctx.obj.dispose)


def services() -> Services:
    from crmsync.sync_service.context import Services

    return click.get_current_context().find_object(Services)
