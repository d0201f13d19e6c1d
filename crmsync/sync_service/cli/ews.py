"""`crmsync mailbox add ews`: Exchange Server mailboxes over EWS.

A mailbox of one's own (``--username`` owns ``--address``), or with ``--impersonate`` a
service account holding Exchange's ApplicationImpersonation role that syncs the mailbox
``--address`` (one service credential, sealed to each mailbox's row like every other).
The EWS URL is given (``--url``), or found once, at add time, with ``--autodiscover``
(POX Autodiscover on the address's own domain only: a misconfigured DNS or redirect could
send the password to another host, see :mod:`crmsync.connectors.ews.autodiscover`); the
URL is stored, so syncing never autodiscovers. An Exchange Online URL is refused with a
pointer to ``mailbox add graph``.
"""

from __future__ import annotations

from typing import Any

import click

from crmsync.connectors.ews.autodiscover import SignIn, discover_ews_url
from crmsync.errors import UserError
from crmsync.sync_service.cli.auditing import audited
from crmsync.sync_service.cli.mailboxes import _add_mailbox, _secret_from_env, mailbox_add


@mailbox_add.command("ews")
@click.argument("name")
@click.option("--url", help="The EWS URL: https://HOST/EWS/Exchange.asmx.")
@click.option("--autodiscover", is_flag=True,
              help="Instead of --url: find the EWS URL now with Autodiscover on the "
              "address's own domain (the password is sent to that domain only).")
@click.option("--username", required=True, help="DOMAIN\\user or user@domain.")
@click.option("--password-env", required=True, help="Variable holding the password.")
@click.option("--auth", type=click.Choice(["ntlm", "basic"]), default="ntlm",
              show_default=True, help="How to sign in (always over TLS).")
@click.option("--address", help="The mailbox's SMTP address (default: the user name, "
              "when it is an address).")
@click.option("--impersonate", is_flag=True,
              help="The user is a service account impersonating --address.")
@click.option("--owner", help="Email of the CRM user who owns the mailbox.")
@click.option("--purpose", type=click.Choice(["personal", "support"]), default="personal")
@click.option("--folders", help="Comma-separated mail folders (default: inbox,sentitems; "
              "a folder below the top of the mailbox by name, nested as A/B).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Backfill from.")
@click.option("--no-calendar", is_flag=True, help="Do not sync the calendar.")
@click.option("--no-contacts", is_flag=True, help="Do not sync contacts.")
@audited("mailbox.add", lambda p: p["name"], lambda p: {"provider": "ews"})
def mailbox_add_ews(name: str, password_env: str, owner: str | None, purpose: str,
                    **options: Any) -> None:
    """Register an Exchange Server mailbox (EWS); prints its id.

    The URL must be https on port 443 at a public address (or on a network in
    CRMSYNC_ALLOWED_PRIVATE_NETWORKS): checked now, and again at every request. With
    --autodiscover it is asked of https://DOMAIN/autodiscover/autodiscover.xml, then
    https://autodiscover.DOMAIN/..., DOMAIN being the address's: a redirect to another
    domain is refused, and the URL found must be in DOMAIN, under the same rule. TLS
    trust follows REQUESTS_CA_BUNDLE / SSL_CERT_FILE.
    """
    password = _secret_from_env(password_env)
    if bool(options["url"]) == bool(options.pop("autodiscover")):
        raise UserError("give exactly one of --url and --autodiscover")
    if not options["url"]:
        options["url"] = discover_ews_url(
            options["address"] or options["username"],
            SignIn(options["username"], password, options["auth"]))
    _add_mailbox(name, "ews", ews_settings(options), password, owner, purpose)


def ews_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The stored settings of an Exchange mailbox from the command's options."""
    settings = {k: v for k, v in options.items()
                if v not in (None, False) and k not in ("no_calendar", "no_contacts")}
    if "folders" in settings:
        settings["folders"] = [f.strip() for f in settings["folders"].split(",") if f.strip()]
    if "since" in settings:
        settings["since"] = settings["since"].date().isoformat()
    settings["calendar"] = not options.get("no_calendar")
    settings["contacts"] = not options.get("no_contacts")
    return settings
