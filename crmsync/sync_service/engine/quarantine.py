"""Quarantined items: what each reason means, retry and discard (the admin console and
``crmsync quarantine`` both call these).

An item is quarantined when it could not be read, mapped or stored
(:meth:`~crmsync.sync_service.engine.store.PageWriter.quarantine`); its raw bytes stay, so
nothing is lost. Retry parses the kept bytes as ``crmsync mail import`` parses a file and
stores the mail with the item's own origin (its mailbox, with that mailbox's rules and
page hooks, or the imported file), in the same transaction that removes the row; an item
that fails again stays, with the reason it failed for this time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial

from sqlalchemy.orm import Session

from crmsync.connectors.base import Page
from crmsync.connectors.mime import parse_header_block, parse_message, split_header_block
from crmsync.crm.db import session_scope
from crmsync.crm.directory import load_directory
from crmsync.crm.models import Mailbox, QuarantinedItem
from crmsync.crm.rules import load_capture_rules
from crmsync.errors import UserError
from crmsync.mapping import CapturePolicy, Directory
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.isolate import store_page
from crmsync.sync_service.engine.page import Origin, WriteOptions
from crmsync.sync_service.engine.run import Clock, matching_for, run_page_hooks, utcnow
from crmsync.sync_service.engine.store import PageWriter

#: why Retry leaves an item alone, in words that say what to do instead
NOT_MAIL = ("Retry reads mail only, and this item holds no mail header (calendar data or a "
            "mail service's record): import its file again, or discard it.")
HEADER_ONLY = ("crmsync kept only this mail's header (it was over the size limit, or its "
               "body could not be fetched), so Retry cannot rebuild the mail: use Resync "
               "from on its mailbox with the mail's date to fetch it again, then discard it.")

#: (words in a reason, what it means and what to do), first match wins; the reasons are
#: those of connectors/mime.py, connectors/imap/fetch.py, mapping/ and engine/
EXPLANATIONS = (
    ("no sender address",
     "The mail names no sender (no From or Sender address), so crmsync cannot tell who "
     "wrote it or which rules apply. Retry will not change that: discard it once read."),
    ("exceeds the limit",
     "The mail is larger than the size limit (MAX_MESSAGE_BYTES), so only its header was "
     "fetched. Raise the limit, use Resync from on the mailbox with the mail's date, and "
     "discard this item."),
    ("nul bytes",
     "The item holds binary data where a mail's header belongs: it is not a mail crmsync "
     "can read. Discard it unless you expected mail here."),
    ("no mail header fields",
     "The item has no mail header (From, To, Subject...): it is not a mail crmsync can "
     "read. Discard it unless you expected mail here."),
    ("empty message", "The item is empty. Discard it."),
    ("mime",
     "The mail's structure is damaged beyond what crmsync reads. Retry after upgrading "
     "crmsync, or discard it."),
    ("the database refused it",
     "The database refused to store the mail (the reason names the value). Retry after "
     "upgrading crmsync or fixing the database."),
    ("unparsable fetch answer",
     "The mail server's answer for this mail could not be read. Retry reads the copy kept "
     "here."),
    ("could not be",
     "crmsync failed on this mail (a fault in crmsync; the service log has the details). "
     "Retry after upgrading crmsync."),
    ("graph",
     "Microsoft 365 returned this item in a shape crmsync could not read. Keep it for a "
     "bug report, or discard it."),
    ("time zone",
     "A meeting names a time zone crmsync does not know. Import the calendar again after "
     "upgrading crmsync, or discard it."),
    ("meeting",
     "A meeting crmsync could not read. Import the calendar again after upgrading "
     "crmsync, or discard it."),
)


def explain(reason: str) -> str:
    """What a quarantine reason means and what to do, in plain words ('' when unknown:
    the reason itself is then all there is to show)."""
    lowered = reason.lower()
    return next((text for words, text in EXPLANATIONS if words in lowered), "")


@dataclass(frozen=True)
class RetryOutcome:
    """What a retry did.

    :param resolved: the item left the quarantine (stored, merged into an activity, or
        skipped by the rules as any mail would be).
    :param result: ``captured``, ``merged``, ``skipped: <reason>``, or why it is still
        quarantined.
    """

    item_id: int
    resolved: bool
    result: str


def retry_quarantined(services: Services, item_id: int, clock: Clock = utcnow) -> RetryOutcome:
    """Run quarantined item ``item_id`` through the pipeline again, in its own transaction.

    :raises UserError: there is no such item.
    """
    with session_scope(services.sessions) as session:
        return retry_item(session, services, _item(session, item_id), clock)


def retry_item(session: Session, services: Services, item: QuarantinedItem,
               clock: Clock = utcnow) -> RetryOutcome:
    """Retry ``item`` inside the caller's transaction (which may add its audit row after).

    The kept bytes are parsed as a mail file is, and stored with the item's origin; the
    writer finds the item's own row when it fails again and gives it the new reason.
    """
    item_id = item.id
    refusal = _refusal(item)
    if refusal:
        return RetryOutcome(item_id, False, refusal)
    mailbox = session.get(Mailbox, item.mailbox_id) if item.mailbox_id is not None else None
    change = parse_message(item.raw, item_id=item.item_id, folder=item.folder,
                           received_at=item.created_at)
    directory, policy = _matching(services, session, mailbox)
    origin = Origin(key=item.origin, mailbox_id=item.mailbox_id)
    counters = store_page(
        session, Page(item.folder, [change], ""),
        partial(PageWriter, session, origin, directory, WriteOptions(now=clock(), policy=policy)),
        partial(run_page_hooks, services, session, mailbox),
    )
    kept = _item(session, item_id)  # read again: an item the database refused rolled back
    if counters["quarantined"]:
        return RetryOutcome(item_id, False, kept.reason)
    session.delete(kept)
    return RetryOutcome(item_id, True, _stored_as(counters))


def discard_quarantined(session: Session, item_id: int) -> None:
    """Delete quarantined item ``item_id`` for good.

    :raises UserError: there is no such item.
    """
    session.delete(_item(session, item_id))


def _item(session: Session, item_id: int) -> QuarantinedItem:
    item = session.get(QuarantinedItem, item_id)
    if item is None:
        raise UserError(f"no quarantined item {item_id}")
    return item


def _refusal(item: QuarantinedItem) -> str:
    """Why retrying ``item`` cannot work, or ``''``.

    Not mail: parsing it as mail would only replace its real reason with "no mail header".
    Only a header from a mailbox: the mail was cut short when kept, and storing it would
    make an activity without its text that a later fetch never completes.
    """
    raw = item.raw
    if raw.startswith(b"From "):  # an mbox envelope line
        raw = raw.partition(b"\n")[2]
    block, body = split_header_block(raw)
    if not parse_header_block(block):
        return NOT_MAIL
    if item.mailbox_id is not None and not body.strip():
        return HEADER_ONLY
    return ""


def _matching(services: Services, session: Session, mailbox: Mailbox | None
              ) -> tuple[Directory, CapturePolicy]:
    """A mailbox's item is matched as that mailbox's sync matches; a file's as an import."""
    if mailbox is not None:
        return matching_for(services, session, mailbox)
    return load_directory(session, services.internal_domains(session)), load_capture_rules(session)


def _stored_as(counters: Counter[str]) -> str:
    if counters["captured"]:
        return "captured"
    if counters["merged"]:
        return "merged"
    return next((key for key in counters if key.startswith("skipped")), "stored")
