"""What to do to a rep's CRM contact folder: the decision table, pure.

Inputs: the cards the CRM wants there (:class:`Wanted`), what we wrote before
(:class:`Written`, from ``published_contacts``) and what the folder holds now (its
contacts with their change keys). The folder mirrors the CRM: the CRM's values are
written, a contact leaving the rule's scope is removed from the folder (never from the
CRM), and an edit made in the folder becomes suggestions for the CRM, never the CRM's
values unseen (see :func:`plan_publication`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass

from crmsync.connectors.base import ContactCard
from crmsync.connectors.contact_folders import StoredContact


@dataclass(frozen=True, slots=True)
class Wanted:
    """A CRM contact that belongs in the folder, as the card to write."""

    contact_id: int
    card: ContactCard

    @property
    def digest(self) -> str:
        return card_digest(self.card)


@dataclass(frozen=True, slots=True)
class Written:
    """What we wrote earlier: ``contact_id`` is ``None`` once the CRM contact is gone."""

    contact_id: int | None
    remote_id: str
    change_key: str
    digest: str


@dataclass(frozen=True, slots=True)
class Action:
    """One step: ``verb`` is ``create``, ``update``, ``remove``, ``suggest``, ``adopt``
    (a folder item we have no record of with the contact's first address: we wrote it
    and crashed before the commit) or ``forget`` (our record of an item the rep
    deleted)."""

    verb: str
    contact_id: int | None = None
    remote_id: str = ""
    change_key: str = ""


def card_digest(card: ContactCard) -> str:
    """A hash of everything a card writes (not its id): a CRM change changes it."""
    values = astuple(card)[2:]  # after item_id and folder
    return hashlib.sha256(json.dumps(values, ensure_ascii=False).encode()).hexdigest()


def plan_publication(wanted: Iterable[Wanted], written: Iterable[Written],
                     folder: Mapping[str, StoredContact]) -> list[Action]:
    """Return the actions that bring the folder to ``wanted``.

    :param folder: the folder's contacts by remote id, as listed now.
    """
    wanted_by_id = {w.contact_id: w for w in wanted}
    actions: list[Action] = []
    known: set[str] = set()
    for row in written:
        known.add(row.remote_id)
        actions += _for_written(row, wanted_by_id.get(row.contact_id or -1),
                                folder.get(row.remote_id))
    mine = {row.contact_id for row in written if row.contact_id is not None}
    unrecorded = {s.card.emails[0]: s for rid, s in folder.items()
                  if rid not in known and s.card.emails}
    for contact_id, want in wanted_by_id.items():
        if contact_id in mine:
            continue
        found = unrecorded.pop(want.card.emails[0], None) if want.card.emails else None
        if found is not None:
            # We wrote it, then lost the record of it: take it back, then write it again.
            actions.append(Action("adopt", contact_id, found.remote_id, found.change_key))
            actions.append(Action("update", contact_id, found.remote_id, found.change_key))
        else:
            actions.append(Action("create", contact_id))
    return actions


def _for_written(row: Written, want: Wanted | None, now: StoredContact | None) -> list[Action]:
    if now is None:
        if want is None:
            # The rep deleted it and it left the scope: nothing to remove.
            return [Action("forget", row.contact_id, row.remote_id)]
        # The rep deleted it but it is still the CRM's: the folder mirrors the CRM.
        return [Action("forget", row.contact_id, row.remote_id), Action("create", want.contact_id)]
    edited = now.change_key != row.change_key
    steps = []
    if edited and row.contact_id is not None:
        # Edited in Outlook / the address book: the edit is suggested for the CRM.
        steps.append(Action("suggest", row.contact_id, row.remote_id, now.change_key))
    if want is None:
        # Out of the rule's scope (or gone from the CRM): out of the folder.
        return [*steps, Action("remove", row.contact_id, row.remote_id, now.change_key)]
    if want.digest != row.digest:
        # The CRM changed since we wrote it: written again at the version just seen.
        steps.append(Action("update", want.contact_id, row.remote_id, now.change_key))
    # Otherwise (edited or not) the folder keeps what it holds until the CRM changes.
    return steps
