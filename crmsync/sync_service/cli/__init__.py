"""The ``crmsync`` command line (contract in INTERFACES.md), one module per command group.

Errors a user can act on (:class:`UserError`) print as one line and exit 1;
everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from crmsync.errors import CrmSyncError
from crmsync.sync_service.context import Services, build_services


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


def _register_commands() -> None:
    """Import the command modules; each adds its group to :func:`main`."""
    from crmsync.sync_service.cli import (  # noqa: F401
        apikeys,
        calendar,
        cases,
        contacts,
        crmdata,
        database,
        exports,
        graph,
        mailboxes,
        manifest,
        privacy,
        relink,
        rules,
        syncing,
    )


_register_commands()
