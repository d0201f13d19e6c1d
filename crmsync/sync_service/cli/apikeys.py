"""`crmsync apikey` and `crmsync serve`."""

from __future__ import annotations

import click

from crmsync.crm.db import session_scope
from crmsync.sync_service.cli import main, services


@main.group()
def apikey() -> None:
    """API keys for scripts and the preview page."""


@apikey.command("create")
@click.argument("email")
def apikey_create(email: str) -> None:
    """Print a new API key for that CRM user."""
    from crmsync.sync_service.web.api_keys import create_api_key

    with session_scope(services().sessions) as session:
        click.echo(create_api_key(session, email))


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=8000)
@click.option("--no-scheduler", is_flag=True, help="Do not sync mailboxes in the background.")
def serve(host: str, port: int, no_scheduler: bool) -> None:
    """Serve the API and run the embedded scheduler."""
    from crmsync.sync_service.triggers.scheduler import Scheduler
    from crmsync.sync_service.web.app import create_app

    svc = services()
    app = create_app(services=svc)
    scheduler = None if no_scheduler else Scheduler(svc)
    if scheduler:
        app.extensions["crmsync.scheduler"] = scheduler  # push: webhooks request syncs
        scheduler.start()
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        if scheduler:
            scheduler.stop()
