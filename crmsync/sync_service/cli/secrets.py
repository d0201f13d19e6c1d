"""`crmsync secrets`: which key sealed each credential, and rotation to a new key."""

from __future__ import annotations

from collections import Counter

import click
from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox
from crmsync.sync_service.cli import main, services
from crmsync.sync_service.cli.auditing import audited
from crmsync.sync_service.mailboxes.credentials import SecretBox, SecretUnreadableError


@main.group()
def secrets() -> None:
    """The key that encrypts stored credentials: status, rotation."""


@secrets.command("status")
def secrets_status() -> None:
    """Count the stored credentials by the key that sealed them (current key marked)."""
    box = services().secret_box()
    current = box.current_key_id.hex()
    with session_scope(services().sessions) as session:
        counts = Counter(SecretBox.key_id_of(sealed) for sealed in session.scalars(
            select(Mailbox.secret).where(Mailbox.secret.is_not(None))))
    click.echo(f"current key {current}")
    for key_id, count in sorted(counts.items()):
        click.echo(f"{key_id}\t{count}\t{'current' if key_id == current else 'old'}")


@secrets.command("rotate")
@audited("secrets.rotate")
def secrets_rotate() -> None:
    """Re-seal every stored credential with the current key (CRMSYNC_SECRET_KEY).

    Run it with the new key in CRMSYNC_SECRET_KEY and the old one in
    CRMSYNC_OLD_SECRET_KEYS; syncs go on meanwhile (each mailbox is re-sealed in a
    transaction of its own). When it reports none left on an old key, drop the old one.
    A credential that opens with no key is reported and left as it is.
    """
    svc = services()
    box = svc.secret_box()
    with session_scope(svc.sessions) as session:
        ids = session.scalars(select(Mailbox.id).where(Mailbox.secret.is_not(None))).all()
    resealed = unreadable = 0
    for mailbox_id in ids:
        with session_scope(svc.sessions) as session:
            mailbox = session.get(Mailbox, mailbox_id, with_for_update=True)
            if mailbox is None or mailbox.secret is None:
                continue
            if mailbox.secret[2:6] == box.current_key_id and mailbox.secret.startswith(b"v2"):
                continue
            try:
                plain = box.open(mailbox.secret, mailbox.name)
            except SecretUnreadableError:
                unreadable += 1
                click.echo(f"{mailbox.name}: credential unreadable with every key; left as is")
                continue
            mailbox.secret = box.seal(plain, mailbox.name)
            resealed += 1
    click.echo(f"re-sealed {resealed} credential(s) with key {box.current_key_id.hex()}; "
               f"{unreadable} unreadable")
