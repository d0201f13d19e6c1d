"""A mailbox's life after it is added: paused, resumed, resynced from a date, removed.

The command line and the admin console both go through here, so that "paused" means the
same everywhere: the scheduler, push and "sync now" leave a paused or removed mailbox
alone (:func:`syncable`). Removing keeps the row: its activities keep the mailbox that
captured them, and with it who may see them (a deleted owner would make them everyone's);
the credential, cursors and push subscriptions are dropped and the name freed for a new
mailbox.

What a mailbox's state is called (:func:`status_word`) and what to do about it
(:func:`next_step`) live here too: the console, ``mailbox list`` and the API say the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.orm import Session

from crmsync.connectors.network import REFUSED
from crmsync.crm.models import Mailbox, SyncState, User
from crmsync.crm.subscriptions import GraphSubscription
from crmsync.errors import AuthError, CrmSyncError, TransientError, UserError
from crmsync.sync_service.mailboxes.credentials import SecretBox


@dataclass
class NewMailbox:
    """What registering a mailbox takes: the connector's settings and its credential."""

    name: str
    provider: str
    settings: dict[str, Any]
    secret: str = field(repr=False)
    owner: str | None = None
    purpose: str = "personal"


#: what to do about a refused server address (the refusal itself never says why)
_PRIVATE_NETWORK_FIX = ("use the mail server's public name, or add its network to "
                        "CRMSYNC_ALLOWED_PRIVATE_NETWORKS if it is your own")
#: the engine's statuses as people read them
_WORDS = {"needs_reauth": "needs re-auth", "lease_lost": "lease lost",
          "catching_up": "catching up"}


def active() -> ColumnElement[bool]:
    """Mailboxes that exist for people (not removed)."""
    return Mailbox.removed_at.is_(None)


def syncable() -> ColumnElement[bool]:
    """Mailboxes the scheduler and push may sync: neither paused nor removed."""
    return and_(Mailbox.removed_at.is_(None), Mailbox.paused_at.is_(None))


def find(session: Session, name: str) -> Mailbox:
    """The mailbox called ``name``, or a :class:`UserError` naming it."""
    mailbox = session.scalars(select(Mailbox).where(Mailbox.name == name, active())).first()
    if mailbox is None:
        raise UserError(f"no mailbox named {name!r}")
    return mailbox


def word(status: str) -> str:
    """An engine status as people read it (``needs_reauth`` → ``needs re-auth``)."""
    return _WORDS.get(status, status)


def status_word(mailbox: Mailbox, now: datetime | None = None) -> str:
    """ok, syncing, paused, needs re-auth, error (and new, retrying, catching up, removed)."""
    now = now or datetime.now(UTC)
    if mailbox.removed_at is not None:
        return "removed"
    if mailbox.paused_at is not None:
        return "paused"
    if mailbox.lease_owner and mailbox.lease_expires_at and mailbox.lease_expires_at > now:
        return "syncing"
    return word(mailbox.status)


def next_step(mailbox: Mailbox) -> str:
    """What an admin should do about the mailbox's state, in one sentence ('' when fine)."""
    error = (mailbox.last_error or "").lower()
    if mailbox.paused_at is not None:
        return "Paused by an admin: press Resume to sync it again."
    if mailbox.status == "needs_reauth":
        if mailbox.provider == "graph":
            return ("Microsoft 365 refused the sign-in: re-authenticate the mailbox, or check "
                    "the app registration's secret or certificate and its admin consent.")
        if mailbox.provider == "ews" and "impersonat" in error:
            return ("Exchange refused the impersonation: an Exchange admin grants the service "
                    "account the ApplicationImpersonation role (the last error says how); "
                    "then press Sync now.")
        return "The server refused the sign-in: enter the current password and save."
    if "credential unreadable" in error or "key is missing" in error:
        return ("The stored password cannot be decrypted with this server's key: restore the "
                "key (CRMSYNC_SECRET_KEY or the key file) or enter the password again.")
    if REFUSED in error:
        return f"The server address is not a public mail server: {_PRIVATE_NETWORK_FIX}."
    if mailbox.status == "retrying":
        return "The mail service asked us to slow down; the next run retries by itself."
    if mailbox.status == "error":
        if mailbox.provider == "ews":  # reached at a URL; its errors say what to do
            if "could not be reached" in error or "certificate" in error:
                return ("The Exchange server could not be reached: check the server URL and "
                        "that its certificate is trusted.")
            return "Check the error above; Sync now retries, and the service log has details."
        if any(word in error for word in ("refused", "timed out", "unreachable", "resolve")):
            return "The server could not be reached: check the host, port and security."
        if "certificate" in error or "ssl" in error:
            return "The server's certificate was not trusted: check the host name and security."
        return "Check the error above; Sync now retries, and the service log has details."
    if mailbox.status == "new":
        return "Not synced yet: press Sync now, or wait for the next run."
    return ""


def check_servers(provider: str, settings: dict[str, Any]) -> None:
    """Refuse servers that are not public mail servers now, as connecting would later.

    Graph's sign-in and API hosts, when given (national clouds), and an Exchange
    server's EWS URL and a CalDAV server's URL are held to the same rule (https, 443, a
    public address); Graph's defaults are Microsoft's own. An Exchange Online EWS URL is
    refused with a pointer to ``mailbox add graph``.

    :raises ConfigError: the same refusal for every refused address (no port-scan oracle).
    """
    if provider == "graph":
        from crmsync.connectors.https import check_url

        for key in ("authority_url", "graph_url"):
            if settings.get(key):
                check_url(str(settings[key]))
        return
    if provider == "ews":
        from crmsync.connectors.ews.settings import EwsSettings
        from crmsync.connectors.https import check_url

        check_url(EwsSettings.from_mapping(settings).url)  # Exchange Online refused first
        return
    if provider == "caldav":
        from crmsync.connectors.dav.settings import DavSettings
        from crmsync.connectors.https import check_url

        check_url(DavSettings.from_mapping(settings).url)
        return
    if provider != "imap":
        return
    from crmsync.connectors.network import IMAP_PORTS, SMTP_PORTS, pin
    from crmsync.connectors.smtp import submission_port

    pin(str(settings["host"]), int(settings["port"]), IMAP_PORTS)
    if settings.get("smtp_host"):
        port = submission_port(settings.get("smtp_port"), settings.get("smtp_security"))
        pin(str(settings["smtp_host"]), port, SMTP_PORTS)


def add(session: Session, box: SecretBox, new: NewMailbox) -> Mailbox:
    """Register a mailbox (the CLI's ``mailbox add`` and the console's Save).

    :raises UserError: the name is taken or the owner is unknown.
    :raises ConfigError: a server address is refused (:func:`check_servers`).
    """
    check_servers(new.provider, new.settings)
    if session.scalars(select(Mailbox.id).where(Mailbox.name == new.name)).first():
        raise UserError(f"a mailbox named {new.name!r} exists already")
    owner_id = None
    if new.owner:
        owner_id = session.scalars(select(User.id).where(User.email == new.owner.lower())
                                   ).one_or_none()
        if owner_id is None:
            raise UserError(f"no CRM user {new.owner} (import users first)")
    mailbox = Mailbox(
        name=new.name, provider=new.provider, settings=new.settings,
        secret=seal_credential(box, new.name, new.secret), owner_id=owner_id,
        purpose=new.purpose,
        status="new", created_at=datetime.now(UTC),
    )
    session.add(mailbox)
    session.flush()
    return mailbox


def seal_credential(box: SecretBox, name: str, secret: str) -> bytes:
    """A mailbox's credential encrypted for its row: bound to the mailbox's name, so a
    copy on another row does not open (every writer of ``Mailbox.secret`` seals here)."""
    return box.seal(secret, name)


def reauthenticated(session: Session, box: SecretBox, name: str, secret: str) -> Mailbox:
    """Store a new sign-in for ``name`` (a delegated mailbox's msal token cache) and clear
    its "needs re-auth", so that the next run syncs with it."""
    mailbox = find(session, name)
    mailbox.secret = seal_credential(box, mailbox.name, secret)
    if mailbox.status == "needs_reauth":
        mailbox.status, mailbox.last_error = "new", None
    return mailbox


def explain_failure(exc: CrmSyncError, provider: str = "") -> str:
    """What went wrong when connecting or saving, and what to do, in plain words.

    An Exchange server is reached at a URL, and its connector's errors already say what
    to do (:mod:`crmsync.connectors.ews.errors`): they are given as they are, with the
    URL to check when the server was not reached (:func:`_explain_exchange`).
    """
    detail = str(exc).strip()
    if provider == "ews" and REFUSED not in detail:
        return _explain_exchange(exc, detail)
    if isinstance(exc, AuthError):
        return (f"The server refused the sign-in: check the user name and password ({detail}).")
    if isinstance(exc, TransientError):
        return (f"The server could not be reached: check the host, port and security "
                f"({detail}).")
    if REFUSED in detail:
        return f"{detail[0].upper()}{detail[1:]}: {_PRIVATE_NETWORK_FIX}."
    return _sentence(detail) if detail else "The connection failed."


def _explain_exchange(exc: CrmSyncError, detail: str) -> str:
    if isinstance(exc, TransientError) and "could not be reached" in detail:
        return (f"The Exchange server could not be reached: check the server URL "
                f"(https://HOST/EWS/Exchange.asmx) and that its certificate is trusted "
                f"({detail}).")
    return _sentence(detail) if detail else "The connection failed."


def _sentence(text: str) -> str:
    """``text`` as a sentence: a capital first letter, a full stop unless it has one."""
    return f"{text[0].upper()}{text[1:]}" + ("" if text[-1] in ".。!?" else ".")


def pause(session: Session, name: str) -> Mailbox:
    mailbox = find(session, name)
    mailbox.paused_at = mailbox.paused_at or datetime.now(UTC)
    return mailbox


def resume(session: Session, name: str) -> Mailbox:
    mailbox = find(session, name)
    mailbox.paused_at = None
    return mailbox


def remove(session: Session, name: str) -> Mailbox:
    """Stop syncing ``name`` for good; its stored activities stay where they are."""
    mailbox = find(session, name)
    now = datetime.now(UTC)
    mailbox.removed_at = now
    mailbox.secret = None
    mailbox.name = f"{mailbox.name[:150]}~removed-{mailbox.id}"
    session.execute(delete(SyncState).where(SyncState.mailbox_id == mailbox.id))
    # Nothing renews its push subscriptions any more: Microsoft 365 lets them lapse
    # within days, and their notifications meet no subscription here meanwhile.
    session.execute(delete(GraphSubscription).where(GraphSubscription.mailbox_id == mailbox.id))
    return mailbox


def resync_from(session: Session, name: str, since: date) -> Mailbox:
    """Fetch the mailbox again from ``since``: cursors are dropped, stored mail stays
    (the next sync finds it already stored, exactly once)."""
    mailbox = find(session, name)
    mailbox.settings = {**(mailbox.settings or {}), "since": since.isoformat()}
    session.execute(update(SyncState).where(SyncState.mailbox_id == mailbox.id)
                    .values(cursor=None, phase="initial"))
    return mailbox
