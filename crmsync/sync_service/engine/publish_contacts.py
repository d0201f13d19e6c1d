"""Keep the CRM contacts of a rep's accounts in their mailbox's "CRM" contact folder.

Run by the sync of the rep's mailbox (:func:`crmsync.sync_service.engine.run.sync_mailbox`)
after its resources, on connectors with the
:class:`~crmsync.connectors.contact_folders.ContactFolderWriting` capability (Graph,
Exchange, CardDAV). Which contacts: the owner's publish rule
(:mod:`crmsync.crm.contact_publishing`). What to do: the pure decision table
(:func:`crmsync.mapping.contact_publication.plan_publication`). An edit made in the
folder goes through the vCard import's rule (:func:`crmsync.crm.cards.complete_contact`):
blanks filled, each differing value listed as a suggestion, never written over the CRM.

A mailbox without a rule and with nothing published costs no request. The folder is
written first and the records committed after; a crash between the two leaves items we
have no record of, which the next run takes back by the contact's address (``adopt``)
instead of writing them twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crmsync.connectors.base import Connector, supports
from crmsync.connectors.contact_folders import (
    ContactChangedError,
    ContactFolderWriting,
    StoredContact,
)
from crmsync.crm.cards import complete_contact
from crmsync.crm.contact_publishing import PublishedContact, contact_card, contacts_in_scope
from crmsync.crm.db import session_scope
from crmsync.crm.models import Contact, Mailbox
from crmsync.mapping.contact_publication import Action, Wanted, Written, plan_publication
from crmsync.sync_service.context import Services

log = logging.getLogger(__name__)


def publish_contacts(services: Services, mailbox_id: int, connector: Connector,
                     now: datetime) -> Counter[str]:
    """Bring the mailbox's CRM folder to its owner's rule; return what was done."""
    counts: Counter[str] = Counter()
    if not supports(connector, ContactFolderWriting):
        return counts
    assert isinstance(connector, ContactFolderWriting)
    with session_scope(services.sessions) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is None:
            return counts
        owner = mailbox.owner
        wanted = [Wanted(c.id, contact_card(c))
                  for c in (contacts_in_scope(session, owner) if owner else [])]
        rows = list(session.scalars(select(PublishedContact).where(
            PublishedContact.mailbox_id == mailbox_id)))
        if not wanted and not rows:
            return counts
        folder = {s.remote_id: s for s in connector.crm_folder_contacts()}
        written = [Written(r.contact_id, r.remote_id, r.change_key, r.written_hash)
                   for r in rows]
        step = _Step(session, connector, mailbox, {w.contact_id: w for w in wanted},
                     {r.remote_id: r for r in rows}, folder, now)
        for action in plan_publication(wanted, written, folder):
            step.run(action)
            counts[f"crm folder: {action.verb}"] += 1
    return counts


class _Step:
    """Run one action against the folder and record it (the session commits them all)."""

    def __init__(self, session: Session, folder_writer: ContactFolderWriting,
                 mailbox: Mailbox, wanted: dict[int, Wanted],
                 rows: dict[str, PublishedContact], folder: dict[str, StoredContact],
                 now: datetime) -> None:
        self.session, self.writer, self.mailbox = session, folder_writer, mailbox
        self.wanted, self.rows, self.folder, self.now = wanted, rows, folder, now

    def run(self, action: Action) -> None:
        getattr(self, f"_{action.verb}")(action)

    def _create(self, action: Action) -> None:
        want = self.wanted[action.contact_id or 0]
        stored = self.writer.create_crm_contact(want.card)
        self._record(want, stored)

    def _update(self, action: Action) -> None:
        want = self.wanted[action.contact_id or 0]
        try:
            stored = self.writer.update_crm_contact(action.remote_id, action.change_key,
                                                    want.card)
        except ContactChangedError:
            # Edited again since we listed the folder: the next run suggests it first.
            log.info("%s: CRM folder contact %s changed meanwhile; written next run",
                     self.mailbox.name, action.remote_id)
            return
        self._record(want, stored)

    def _adopt(self, action: Action) -> None:
        want = self.wanted[action.contact_id or 0]
        self._record(want, self.folder[action.remote_id], digest="")

    def _suggest(self, action: Action) -> None:
        contact = self.session.scalars(select(Contact).where(
            Contact.id == action.contact_id).options(selectinload(Contact.emails))).one()
        complete_contact(self.session, contact, self.folder[action.remote_id].card,
                         f"CRM folder of mailbox {self.mailbox.name}", self.now)
        self.rows[action.remote_id].change_key = action.change_key

    def _remove(self, action: Action) -> None:
        self.writer.delete_crm_contact(action.remote_id)
        self._forget(action)

    def _forget(self, action: Action) -> None:
        row = self.rows.pop(action.remote_id, None)
        if row is not None:
            self.session.delete(row)
            self.session.flush()  # the contact may get a new row in this run

    def _record(self, want: Wanted, stored: StoredContact, digest: str | None = None) -> None:
        row = self.rows.get(stored.remote_id)
        if row is None:
            row = PublishedContact(mailbox_id=self.mailbox.id, contact_id=want.contact_id,
                                   remote_id=stored.remote_id)
            self.session.add(row)
            self.rows[stored.remote_id] = row
        row.change_key = stored.change_key
        row.written_hash = want.digest if digest is None else digest
