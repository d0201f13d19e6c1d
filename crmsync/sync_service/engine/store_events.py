"""Store calendar events as ``meeting`` activities; dedupe address-book entries.

Called by :meth:`Writer.apply` for :class:`CalendarEvent` changes and each page's
:class:`ContactCard` changes, inside the page's transaction. A meeting is one activity
per iCalendar UID (however many calendars hold it), with the organizer and attendees as
participants, linked by the same matcher chain as mail. The capture rules mirror mail's:
private meetings, internal-only meetings, and (outside support mailboxes) meetings with
no one the CRM knows are counted, never stored. Address-book entries dedupe into CRM
contacts through :func:`crmsync.crm.cards.import_cards`, the vCard import's rules.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crmsync.connectors.base import CalendarEvent, ContactCard, EventPerson
from crmsync.crm.models import Activity, ActivityParticipant, ActivitySource
from crmsync.crm.tracking import removed_targets
from crmsync.mapping import Participant
from crmsync.mapping.evidence import gather_links
from crmsync.mapping.links import plan_links
from crmsync.mapping.privacy import privacy_verdict, sensitivity_of
from crmsync.sync_service.engine.booked_inbound import claim_booked_event
from crmsync.sync_service.engine.intents import fulfil_meeting_intents
from crmsync.sync_service.engine.link_rows import apply_link_plan, held_links
from crmsync.sync_service.engine.page import Writer, stored_key

PRIVATE = frozenset({"private", "confidential"})
SKIP_PRIVATE = "skipped: private meeting"
SKIP_INTERNAL = "skipped: internal-only meeting"
SKIP_UNMATCHED = "skipped: no CRM contact or account among attendees"


def store_cards(writer: Writer, cards: list[ContactCard]) -> None:
    """Dedupe a page of address-book entries into CRM contacts, in one lookup.

    A card matching a CRM contact by address fills that contact's blanks; a differing
    value is counted as a ``contact conflict`` line (shown by ``sync``, kept in the run's
    counters) and kept as a suggestion (``crmsync contacts suggestions``), never written
    over. A card nobody matches becomes a contact only when its
    domain belongs to an account. Colleagues and people the privacy rules refuse
    (erased, blocked, do-not-capture) are left out.
    """
    from crmsync.crm.cards import import_cards  # vobject: only when cards come
    writer.counters["contacts_seen"] += len(cards)
    wanted = []
    for card in cards:
        external = [a.lower() for a in card.emails if not writer.directory.is_internal(a)]
        refused = privacy_verdict(external, {}, writer.options.policy)
        if not external or refused is not None:
            writer.counters[f"contacts skipped: {refused or 'internal or no address'}"] += 1
        else:
            wanted.append(replace(card, emails=tuple(external)))
    counts, conflicts = import_cards(writer.session, wanted, writer.directory,
                                     create_unknown=False,
                                     source=f"address book of {writer.origin.key}",
                                     now=writer.options.now)
    writer.counters.update({f"contacts {k}": v for k, v in counts.items()})
    for line in conflicts:
        contact, field_name, crm_value, card_value = line.split("\t")
        writer.counters[f"contact conflict: {contact} {field_name}: CRM {crm_value!r}, "
                        f"address book {card_value!r}"[:300]] += 1


def store_calendar_change(writer: Writer, change: CalendarEvent) -> None:
    """Store one event in ``writer``'s transaction."""
    if claim_booked_event(writer, change):
        return  # booked in the CRM: it has its activities; the write-back reads it
    if change.sensitivity in PRIVATE:
        writer.counters[SKIP_PRIVATE] += 1
        return
    if change.is_cancelled:
        _drop_source(writer, change)
        writer.counters["meetings_cancelled"] += 1
        return
    participants = _participants(writer, change)
    if all(p.is_internal for p in participants):
        writer.counters[SKIP_INTERNAL] += 1
        return
    refused = privacy_verdict([p.address for p in participants], {}, writer.options.policy)
    if refused is not None:
        # The same privacy rules as mail (blocked, erased, do-not-capture).
        writer.counters[f"skipped: {refused}"] += 1
        return
    links = list(gather_links(participants, change.subject, writer.directory).links)
    if not links and not writer.options.policy.capture_unmatched_external:
        writer.counters[SKIP_UNMATCHED] += 1
        return
    activity = _activity_for(writer, change)
    _merge_meeting(writer, activity, change, participants, links)
    # A rep linked this meeting from the appointment pane before crmsync held it.
    fulfil_meeting_intents(writer.session, activity, change.item_id, writer.options.now)


def meeting_key(event: CalendarEvent, origin: str) -> str:
    """The dedupe key: the iCalendar UID, else this calendar's own id for the event."""
    return f"ical:{event.ical_uid}" if event.ical_uid else f"event:{origin}:{event.item_id}"


def _participants(writer: Writer, event: CalendarEvent) -> list[Participant]:
    people: list[tuple[EventPerson, str]] = []
    if event.organizer is not None:
        people.append((event.organizer, "organizer"))
    people += [(person, "attendee") for person in event.attendees]
    seen: set[tuple[str, str]] = set()
    result = []
    for person, role in people:
        if (person.address, role) in seen:
            continue
        seen.add((person.address, role))
        contact = writer.directory.contact_for(person.address)
        result.append(Participant(
            address=person.address, name=person.name, role=role,
            contact_id=contact.id if contact else None,
            is_internal=writer.directory.is_internal(person.address),
        ))
    return result


def _activity_for(writer: Writer, event: CalendarEvent) -> Activity:

    key = stored_key(meeting_key(event, writer.origin.key))
    activity = writer.session.scalars(
        select(Activity).where(Activity.dedupe_key == key).options(
            selectinload(Activity.participants), selectinload(Activity.links),
            selectinload(Activity.sources))
    ).one_or_none()
    organizer_internal = event.organizer is not None and writer.directory.is_internal(
        event.organizer.address)
    if activity is None:
        activity = Activity(
            kind="meeting", dedupe_key=key, ical_uid=event.ical_uid,
            conversation=f"series:{event.series_id}"[:1000] if event.series_id else "",
            direction="outbound" if organizer_internal else "inbound",
            created_at=writer.options.now, participants=[], links=[], sources=[],
            attachments=[], owner_mailbox_id=writer.origin.mailbox_id,
            sensitivity=sensitivity_of({"sensitivity": event.sensitivity}),
        )
        writer.session.add(activity)
        writer.counters["meetings_captured"] += 1
    else:
        writer.counters["meetings_merged"] += 1
    # A moved or renamed meeting keeps its activity; the latest time and subject win.
    activity.subject = event.subject
    activity.occurred_at = event.start
    activity.body_text = event.body_text if writer.options.store_body else None
    return activity


def _merge_meeting(writer: Writer, activity: Activity, event: CalendarEvent,
                   participants: list[Participant], links: list) -> None:
    have = {(p.address, p.role) for p in activity.participants}
    for p in participants:
        if (p.address, p.role) not in have:
            have.add((p.address, p.role))
            activity.participants.append(ActivityParticipant(
                address=p.address[:320], name=p.name[:300], role=p.role,
                contact_id=p.contact_id))
    # As for another copy of a mail: links are only added; a link a person removed is never
    # added again, nor another deal or case beside the one a person chose in the pane.
    removed = removed_targets(writer.session, [activity.id]).get(activity.id, frozenset())
    plan = plan_links(held_links(activity.links), links, removed)
    apply_link_plan(activity, plan, writer.options.now)
    for source in activity.sources:
        if source.origin == writer.origin.key and source.folder == event.calendar:
            source.item_id = event.item_id
            return
    activity.sources.append(ActivitySource(
        mailbox_id=writer.origin.mailbox_id, origin=writer.origin.key, folder=event.calendar,
        item_id=event.item_id, flags=[]))


def _drop_source(writer: Writer, event: CalendarEvent) -> None:
    source = writer.session.scalars(select(ActivitySource).where(
        ActivitySource.origin == writer.origin.key, ActivitySource.folder == event.calendar,
        ActivitySource.item_id == event.item_id)).one_or_none()
    if source is not None:
        writer.session.delete(source)
