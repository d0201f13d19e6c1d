"""`crmsync mailbox add caldav`: a CalDAV/CardDAV account's calendar and address book.

Google, iCloud, Nextcloud, Radicale, ...: the account is found from ``--url`` (the
server's DAV root or the principal's URL) with ``current-user-principal``; its first
calendar and its first address book other than ``CRM`` are synced. The password (an
app password at Google and iCloud) is sealed to the mailbox's row like every other.
"""

from __future__ import annotations

from typing import Any

import click

from crmsync.sync_service.cli.auditing import audited
from crmsync.sync_service.cli.mailboxes import _add_mailbox, _secret_from_env, mailbox_add


@mailbox_add.command("caldav")
@click.argument("name")
@click.option("--url", required=True,
              help="The DAV server or principal URL (https://HOST/remote.php/dav/ on "
              "Nextcloud, https://caldav.icloud.com/, https://HOST/USER/ on Radicale).")
@click.option("--username", required=True, help="Who signs in.")
@click.option("--password-env", required=True,
              help="Variable holding the password (an app password where the provider "
              "has them).")
@click.option("--owner", help="Email of the CRM user who owns the account.")
@click.option("--no-calendar", is_flag=True, help="Do not sync the calendar.")
@click.option("--no-contacts", is_flag=True, help="Do not sync the address book.")
@audited("mailbox.add", lambda p: p["name"], lambda p: {"provider": "caldav"})
def mailbox_add_caldav(name: str, password_env: str, owner: str | None,
                       **options: Any) -> None:
    """Register a CalDAV/CardDAV account (calendar and contacts); prints its id.

    The URL must be https on port 443 at a public address (or on a network in
    CRMSYNC_ALLOWED_PRIVATE_NETWORKS): checked now, and again at every request. TLS
    trust follows REQUESTS_CA_BUNDLE / SSL_CERT_FILE. Changes are found with RFC 6578
    sync tokens where the server has them, else by comparing ETags.
    """
    password = _secret_from_env(password_env)
    settings: dict[str, Any] = {"url": options["url"], "username": options["username"],
                                "calendar": not options["no_calendar"],
                                "contacts": not options["no_contacts"]}
    if owner:
        settings["address"] = owner.lower()
    _add_mailbox(name, "caldav", settings, password, owner, "personal")
