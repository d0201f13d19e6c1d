"""Write one page of connector changes into the CRM store, inside the caller's transaction.

The caller commits the page's records and its cursor together, so a crash at any
point leaves either the whole page (and its cursor) or none of it. Everything
here is idempotent: replaying a page that was already stored changes nothing.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from crmsync.connectors.base import (
    CalendarEvent,
    Change,
    ContactCard,
    Deletion,
    FlagsChanged,
    MailMessage,
    Page,
    Unreadable,
)
from crmsync.crm.bulk import insert_rows
from crmsync.crm.models import (
    LINK_TARGET_COLUMNS,
    Activity,
    ActivityAttachment,
    ActivityLink,
    ActivityParticipant,
    ActivitySource,
    QuarantinedItem,
    link_columns,
)
from crmsync.crm.tracking import removed_targets
from crmsync.mapping import Directory, MailDecision, decide_mail
from crmsync.mapping.copies import CopyContext, CopyMerge, merge_copy
from crmsync.mapping.evidence import ThreadLink
from crmsync.mapping.facts import FactsKey, MailFacts, facts_key, mail_facts
from crmsync.mapping.links import HeldLink, LinkPlan, Target, plan_links
from crmsync.mapping.records import Participant
from crmsync.sync_service.engine.auto_contacts import create_participant_contacts
from crmsync.sync_service.engine.booked_inbound import note_booked_removal
from crmsync.sync_service.engine.link_rows import (
    apply_link_plan,
    held_links,
    proposal_target,
    stored_participants,
)
from crmsync.sync_service.engine.linking import ThreadIndex
from crmsync.sync_service.engine.page import (
    ActivityFacts,
    Origin,
    StoredMail,
    WriteOptions,
    stored_key,
)
from crmsync.sync_service.engine.store_events import store_calendar_change, store_cards


class PageWriter:
    """Apply pages of changes from one origin; counts what it did in :attr:`counters`."""

    def __init__(
        self, session: Session, origin: Origin, directory: Directory, options: WriteOptions,
        facts: MutableMapping[FactsKey, MailFacts] | None = None,
    ) -> None:
        """:param facts: mails' :class:`MailFacts` computed ahead (by the fetch process),
        by :func:`facts_key`; the writer adds those it computes itself."""
        self.session = session
        self.origin = origin
        self.directory = directory
        self.options = options
        self.facts = {} if facts is None else facts
        self.counters: Counter[str] = Counter()
        #: captured mail of the pages applied so far, in order
        self.stored: list[StoredMail] = []
        self._loaded: list[Activity] = []

    def load_activities(self) -> None:
        """Load every stored mail's activity, with its links, in one query per 500.

        For hooks that read :attr:`StoredMail.activity` of each mail (support intake):
        otherwise each one is a query of its own. The writer holds them, since the
        session's identity map alone would let them go.
        """
        ids = [stored.activity_id for stored in self.stored]
        for start in range(0, len(ids), 500):
            self._loaded += self.session.scalars(
                select(Activity).where(Activity.id.in_(ids[start:start + 500]))
                .options(selectinload(Activity.links))
            ).all()

    def facts_of(self, mail: MailMessage) -> MailFacts:
        """Return ``mail_facts(mail)``: as computed ahead, else computed now, once."""
        key = facts_key(mail)
        found = self.facts.get(key)
        if found is None:
            found = self.facts[key] = mail_facts(mail)
        return found

    def apply(self, page: Page) -> None:
        """Store every change of ``page``; a failing item is quarantined, never lost."""
        mails: list[MailMessage] = []
        cards: list[ContactCard] = []
        for change in page.changes:
            if isinstance(change, Deletion):
                note_booked_removal(self, change)
                self._delete_source(change)
            elif isinstance(change, FlagsChanged):
                self._update_flags(change)
            elif isinstance(change, Unreadable):
                self.quarantine(change.folder, change.item_id, change.raw, change.reason)
            elif isinstance(change, ContactCard):
                cards.append(change)
            elif isinstance(change, CalendarEvent):
                store_calendar_change(self, change)
            else:
                mails.append(change)
        if cards:
            store_cards(self, cards)
        if mails:
            self._store_mails(mails)

    # -- deletions and flags ---------------------------------------------------------------

    def _delete_source(self, change: Deletion) -> None:
        # The activity stays: a mail deleted from a mailbox is still part of the
        # customer's history, and another mailbox may hold a copy.
        result = self.session.execute(
            delete(ActivitySource).where(
                ActivitySource.origin == self.origin.key,
                ActivitySource.folder == change.folder,
                ActivitySource.item_id == change.item_id,
            )
        )
        self.counters["sources_removed"] += result.rowcount or 0

    def _update_flags(self, change: FlagsChanged) -> None:
        source = self.session.scalars(
            select(ActivitySource).where(
                ActivitySource.origin == self.origin.key,
                ActivitySource.folder == change.folder,
                ActivitySource.item_id == change.item_id,
            )
        ).one_or_none()
        if source is not None:
            source.flags = sorted(change.flags)
            self.counters["flags_updated"] += 1

    # -- quarantine ------------------------------------------------------------------------

    def quarantine(
        self, folder: str, item_id: str, raw: bytes, reason: str, detail: str = ""
    ) -> None:
        """Keep ``raw`` with ``reason`` for an admin; the same item is kept once, with
        the reason it failed for last (a retry that fails again says why)."""
        kept = self.session.scalars(
            select(QuarantinedItem).where(
                QuarantinedItem.origin == self.origin.key,
                QuarantinedItem.folder == folder,
                QuarantinedItem.item_id == item_id,
            )
        ).first()
        self.counters["quarantined"] += 1
        if kept is not None:
            kept.reason, kept.detail = reason, detail
            return
        self.session.add(
            QuarantinedItem(
                mailbox_id=self.origin.mailbox_id, origin=self.origin.key, folder=folder,
                item_id=item_id, reason=reason, detail=detail, raw=raw,
                created_at=self.options.now,
            )
        )

    def quarantine_change(self, change: Change, reason: str, detail: str = "") -> None:
        """Quarantine any change (one the database refused), with what we hold of it raw."""
        if isinstance(change, MailMessage):
            raw = _raw_of(change)
        elif isinstance(change, Unreadable):
            raw = change.raw
        else:
            raw = repr(change).encode("utf-8", "backslashreplace")
        folder = change.calendar if isinstance(change, CalendarEvent) else change.folder
        self.quarantine(folder, change.item_id, raw, reason, detail)

    # -- mail ------------------------------------------------------------------------------

    def _decide(self, mail: MailMessage, threads: ThreadIndex) -> MailDecision | None:
        try:
            return decide_mail(
                mail, self.directory, now=self.options.now, policy=self.options.policy,
                thread=threads.links_for(mail), facts=self.facts_of(mail),
            )
        except Exception as exc:  # a mapping bug must not lose the mail: keep it raw
            self.quarantine(
                mail.folder, mail.item_id, _raw_of(mail), f"could not be mapped: {exc!r}",
                traceback.format_exc(),
            )
            return None

    def _store_mails(self, mails: list[MailMessage]) -> None:
        captured: list[tuple[MailMessage, MailDecision]] = []
        # one lookup per page, not per mail
        threads = ThreadIndex.load(self.session, mails, self.facts_of)
        if self.options.policy.auto_create_contacts and create_participant_contacts(
                self, mails, threads):
            # decide again, new contacts known
            threads = ThreadIndex.load(self.session, mails, self.facts_of)
        for mail, decision in threads.decide_all(mails, lambda m: self._decide(m, threads)):
            if decision is None:
                continue
            if decision.action == "quarantine":
                self.quarantine(mail.folder, mail.item_id, _raw_of(mail), decision.reason)
            elif decision.action == "skip":
                self.counters[f"skipped: {decision.reason}"] += 1
            else:
                captured.append((mail, decision))
        if not captured:
            return
        keys = {stored_key(d.dedupe_key) for _, d in captured}
        activities = {
            a.dedupe_key: a
            for a in self.session.scalars(
                select(Activity)
                .where(Activity.dedupe_key.in_(keys))
                .options(
                    selectinload(Activity.participants),
                    selectinload(Activity.links),
                    selectinload(Activity.sources),
                )
            )
        }
        # Links a person removed, for the page's known activities in one query.
        removed = removed_targets(self.session, (a.id for a in activities.values()))
        pending: dict[str, _NewRows] = {}
        order: list[tuple[Activity | str, MailMessage, MailDecision, bool]] = []
        for mail, decision in captured:
            key = stored_key(decision.dedupe_key)
            activity = activities.get(key)
            thread = threads.links_for(mail)
            if activity is not None:
                self.counters["merged"] += 1
                decision = self._merge(activity, mail, decision, removed, thread)
                order.append((activity, mail, decision, False))
                continue
            rows = pending.get(key)
            created = rows is None
            if rows is None:
                rows = pending[key] = _NewRows(
                    self._new_activity(mail, decision, key), _attachment_rows(mail)
                )
                self.counters["captured"] += 1
            else:
                self.counters["merged"] += 1
            self._merge_rows(rows, mail, decision, thread)
            order.append((key, mail, decision, created))
        created_ids = self._insert_new(pending)
        for a, mail, decision, created in order:
            if isinstance(a, str):
                if pending[a].union is not None:
                    decision = _decided_on(decision, pending[a].union)  # every copy's union
                values = pending[a].values
                activity_id = created_ids[a]
                facts = ActivityFacts(values["direction"], values["internet_message_id"],
                                      values["conversation"])
            else:
                activity_id = a.id
                facts = ActivityFacts(a.direction, a.internet_message_id, a.conversation)
            self.stored.append(StoredMail(activity_id, mail, decision, created, facts,
                                          self.facts_of(mail), self.session))

    def _merge_rows(self, rows: _NewRows, mail: MailMessage, decision: MailDecision,
                    thread: Sequence[ThreadLink]) -> None:
        """Like :meth:`_merge`, for an activity created in this page (rows not yet inserted)."""
        for p in decision.participants:
            rows.participants.setdefault((p.address, p.role), {
                "address": p.address[:320], "name": p.name[:300], "role": p.role,
                "contact_id": p.contact_id,
            })
        # A new activity holds only automatic links (of this page's copies) and no removal.
        held = [HeldLink(target, False, row["reason"], row["confidence"])
                for target, row in rows.links.items()]
        if not rows.people:
            # The first copy: its decision is the activity's.
            plan = plan_links(held, decision.links)
            rows.people = decision.participants
        else:
            # Another copy: decided once more on the union of the copies.
            rows.union = merge_copy(held, rows.people, decision.participants, decision.links,
                                    CopyContext(decision.subject, self.directory, thread))
            plan, rows.people = rows.union.plan, rows.union.participants
        self._apply_to_rows(rows, plan)
        # One source row per folder, holding the latest id (see _merge_source).
        rows.sources[mail.folder] = {
            "mailbox_id": self.origin.mailbox_id, "origin": self.origin.key,
            "folder": mail.folder, "item_id": mail.item_id, "flags": sorted(mail.flags),
        }

    def _apply_to_rows(self, rows: _NewRows, plan: LinkPlan) -> None:
        """Apply ``plan``, made from ``rows.links`` in their order, to those rows."""
        targets = list(rows.links)
        for position, proposal in plan.update:
            rows.links[targets[position]].update(reason=proposal.reason,
                                                 confidence=proposal.confidence)
        for position in plan.remove:
            del rows.links[targets[position]]
        for proposed in plan.add:
            target = proposal_target(proposed)
            rows.links[target] = dict(
                _NO_TARGET, **link_columns(target), reason=proposed.reason,
                confidence=proposed.confidence, source="auto", created_at=self.options.now,
                # the copy of the activity's time every link carries (0071)
                occurred_at=rows.values["occurred_at"])

    def _insert_new(self, pending: dict[str, _NewRows]) -> dict[str, int]:
        """Insert the page's new activities and their child rows, one executemany per table.

        Flushing thousands of ORM objects costs more than parsing the mail
        (bench/README.md), and SQLite cannot batch an INSERT that returns keys, so rows
        go in through :func:`~crmsync.crm.bulk.insert_rows` and the new ids are read
        back in one SELECT by dedupe key.

        :returns: dedupe key → the new activity's id.
        """
        if not pending:
            return {}
        insert_rows(self.session, Activity.__table__, [r.values for r in pending.values()])
        created: dict[str, int] = {key: activity_id for key, activity_id in self.session.execute(
            select(Activity.dedupe_key, Activity.id).where(Activity.dedupe_key.in_(list(pending)))
        )}
        for model, attr in _CHILDREN:
            values = []
            for key, rows in pending.items():
                activity_id = created[key]
                for row in rows.of(attr):
                    row["activity_id"] = activity_id  # the rows are this writer's own
                    values.append(row)
            insert_rows(self.session, model.__table__, values)
        return created

    def _new_activity(self, mail: MailMessage, decision: MailDecision, key: str
                      ) -> dict[str, Any]:
        """Return the column values of a new activity."""
        return {
            "kind": "email",
            "dedupe_key": key,
            "internet_message_id": decision.message_id,
            "conversation": decision.conversation[:1000],
            "subject": decision.subject,
            "occurred_at": decision.occurred_at,
            "direction": decision.direction,
            "body_text": mail.body_text
            if self.options.store_body and self.options.policy.store_body else None,
            "created_at": self.options.now,
            "sensitivity": decision.sensitivity,
            "owner_mailbox_id": self.origin.mailbox_id,
        }

    def _merge(self, activity: Activity, mail: MailMessage, decision: MailDecision,
               removed: dict[int, set[Target]], thread: Sequence[ThreadLink]) -> MailDecision:
        """Add this copy's participants and source to ``activity`` and link the union of
        its copies once (:mod:`crmsync.mapping.copies`); idempotent.

        :param removed: by activity id, the targets a person unlinked (``link_removals``):
            automation never links them again.
        :param thread: the links of the mail's conversation.
        :returns: ``decision`` with the links and suggestions of the union.
        """
        context = CopyContext(decision.subject, self.directory, thread,
                              frozenset(removed.get(activity.id, ())))
        union = merge_copy(held_links(activity.links),
                           stored_participants(activity, self.directory),
                           decision.participants, decision.links, context)
        have = {(p.address, p.role) for p in activity.participants}
        for p in decision.participants:
            if (p.address, p.role) not in have:
                have.add((p.address, p.role))
                activity.participants.append(
                    ActivityParticipant(
                        address=p.address[:320], name=p.name[:300], role=p.role,
                        contact_id=p.contact_id,
                    )
                )
        apply_link_plan(activity, union.plan, self.options.now)
        self._merge_source(activity, mail)
        return _decided_on(decision, union)

    def _merge_source(self, activity: Activity, mail: MailMessage) -> None:
        for source in activity.sources:
            if source.origin == self.origin.key and source.folder == mail.folder:
                # Same copy seen again (resume) or under a new id (UIDVALIDITY
                # change, re-import): keep one source row with the current id.
                source.item_id = mail.item_id
                source.flags = sorted(mail.flags)
                return
        activity.sources.append(
            ActivitySource(
                mailbox_id=self.origin.mailbox_id, origin=self.origin.key, folder=mail.folder,
                item_id=mail.item_id, flags=sorted(mail.flags),
            )
        )


@dataclass
class _NewRows:
    """An activity created in this page and its child rows, inserted after it in bulk."""

    values: dict[str, Any]
    attachments: list[dict[str, Any]]
    participants: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    links: dict[Target, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the participants of the copies merged so far, as mapping reads them
    people: tuple[Participant, ...] = ()
    #: after a second copy: the union of the copies and what it links
    union: CopyMerge | None = None

    def of(self, attr: str) -> list[dict[str, Any]]:
        """Return the rows of one child collection, in insertion order."""
        rows = getattr(self, attr)
        return list(rows.values()) if isinstance(rows, dict) else rows


#: a link row's target columns, all empty (one is then set)
_NO_TARGET = dict.fromkeys(LINK_TARGET_COLUMNS.values())

_CHILDREN = (
    (ActivityParticipant, "participants"),
    (ActivityLink, "links"),
    (ActivitySource, "sources"),
    (ActivityAttachment, "attachments"),
)


def _decided_on(decision: MailDecision, union: CopyMerge) -> MailDecision:
    """Return ``decision`` as the union of the mail's copies decides it, for the hooks."""
    return replace(decision, participants=union.participants, links=union.evidence.links,
                   suggestions=union.evidence.suggestions)


def _attachment_rows(mail: MailMessage) -> list[dict[str, Any]]:
    return [
        {"filename": (a.filename or "")[:500], "content_type": a.content_type[:200],
         "size": a.size}
        for a in mail.attachments
    ]


def _raw_of(mail: MailMessage) -> bytes:
    """Return what we hold of a mail as bytes: the header block and the text body."""
    body = (mail.body_text or "").encode("utf-8", "surrogateescape")
    return mail.raw_header + b"\r\n" + body
