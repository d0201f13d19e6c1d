"""`crmsync apikey` and `crmsync serve`."""

from __future__ import annotations

import click

from crmsync.crm.db import session_scope
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited
from crmsync.sync_service.web.api_keys import DEFAULT_KEY_DAYS, MAX_KEY_DAYS


@main.group()
def apikey() -> None:
    """API keys for scripts and the preview page."""


@apikey.command("create")
@click.argument("email")
@click.option("--days", type=click.IntRange(0, MAX_KEY_DAYS), default=DEFAULT_KEY_DAYS,
              show_default=True, help="The key stops working after this many days (0: never).")
@click.option("--label", default="", help="What the key is for, shown by 'apikey list'.")
@audited("apikey.create", lambda p: p["email"],
         lambda p: {"days": p["days"], "label": p["label"]})
def apikey_create(email: str, days: int, label: str) -> None:
    """Print a new API key for that CRM user (shown once; only its hash is kept)."""
    from crmsync.sync_service.web.api_keys import create_api_key

    with session_scope(services().sessions) as session:
        click.echo(create_api_key(session, email, days=days or None, label=label))


@apikey.command("list")
@click.option("--user", "email", help="Only this CRM user's keys.")
def apikey_list(email: str | None) -> None:
    """List API keys: id, user, label, created, expires, state (never the key)."""
    from crmsync.sync_service.web.api_keys import list_api_keys

    with session_scope(services().sessions) as session:
        for key in list_api_keys(session, email):
            click.echo(credential_line(key, key["purpose"], key["label"]))


def credential_line(row: dict, *middle: str) -> str:
    """One listed credential (API key, feed URL): id, user, ``middle``, created, expires,
    state, tab-separated; never the secret, which crmsync does not keep."""
    from crmsync.crm.export import iso_utc

    state = "revoked" if row["revoked_at"] else "live"
    return "\t".join([str(row["id"]), row["user"], *middle, iso_utc(row["created_at"]) or "",
                      iso_utc(row["expires_at"]) or "never", state])


@apikey.command("revoke")
@click.argument("key_id", type=int)
@audited("apikey.revoke", lambda p: p["key_id"])
def apikey_revoke(key_id: int) -> None:
    """Revoke the key KEY_ID (from 'apikey list'): its next request gets 401."""
    from crmsync.sync_service.web.api_keys import revoke_api_key

    with session_scope(services().sessions) as session:
        revoke_api_key(session, key_id)
    click.echo(f"revoked API key {key_id}")


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=8000)
@click.option("--no-scheduler", is_flag=True, help="Do not sync mailboxes in the background.")
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Requests served at once.")
@click.option("--debug", is_flag=True,
              help="Flask's development server (reloads nothing, shows tracebacks): never "
                   "in production.")
def serve(host: str, port: int, no_scheduler: bool, threads: int, debug: bool) -> None:
    """Serve the API (waitress, a production WSGI server) and run the embedded scheduler.

    With CRMSYNC_BROKER_URL the scheduler queues mailbox syncs for 'crmsync worker'
    processes instead of running them here (PostgreSQL required), and the workers watch
    the mailboxes for push.
    """
    from crmsync.sync_service.triggers.scheduler import Scheduler
    from crmsync.sync_service.web.app import create_app

    svc = services()
    if svc.config["BROKER_URL"]:
        from crmsync.sync_service.workers.broker import check_distributable

        check_distributable(svc.config)
    app = create_app(services=svc)
    scheduler = None if no_scheduler else Scheduler(svc)
    if scheduler:
        app.extensions["crmsync.scheduler"] = scheduler  # push: webhooks request syncs
        scheduler.start()
    try:
        if debug:
            app.run(host=host, port=port, threaded=True, use_reloader=False)
        else:
            import waitress

            click.echo(f"serving on http://{host}:{port}")
            waitress.serve(app, host=host, port=port, threads=threads, ident="crmsync")
    finally:
        if scheduler:
            scheduler.stop()
