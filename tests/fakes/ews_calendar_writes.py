"""The Exchange double's calendar writes: CreateItem, UpdateItem, DeleteItem of a
CalendarItem, and GetItem of its properties and of its occurrences.

Follows https://learn.microsoft.com/exchange/client-developer/web-service-reference/
createitem, updateitem, deleteitem, getitem and occurrenceitemid:

- ``SendMeetingInvitations`` (CreateItem), ``SendMeetingInvitationsOrCancellations``
  (UpdateItem) and ``SendMeetingCancellations`` (DeleteItem) are recorded in
  :attr:`EwsDouble.meeting_messages` for every write, with whether a meeting request,
  update or cancellation went out (a mode other than ``SendToNone`` and attendees), so a
  test fails when one does unasked;
- every change gives the item a new ``ChangeKey``; UpdateItem with
  ``ConflictResolution="NeverOverwrite"`` and an older ChangeKey answers
  ``ErrorIrresolvableConflict``;
- a series (``WeeklyRecurrence`` + ``NumberedRecurrence``) is one item; an occurrence is
  read by ``OccurrenceItemId`` (master id, 1-based instance index): a deleted one answers
  ``ErrorCalendarOccurrenceIsDeletedFromRecurrence``, one past the end
  ``ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange``;
- the item's MimeContent (what the calendar sync reads) is an iCalendar object made from
  its properties: the master with RRULE and EXDATE, a moved occurrence as a
  RECURRENCE-ID VEVENT.

:func:`move_occurrence`, :func:`delete_occurrence` and :func:`edit_item` play the rep in
Outlook.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from exchangelib import EWSTimeZone
from lxml import etree

NS_T = "http://schemas.microsoft.com/exchange/services/2006/types"
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _t(element: Any, name: str) -> Any:
    return element.find(f"{{{NS_T}}}{name}")


def _text(element: Any, name: str) -> str | None:
    found = _t(element, name)
    return None if found is None else (found.text or "")


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ical_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def read_calendar_item(element: Any) -> dict[str, Any]:
    """The properties a CreateItem or SetItemField carries (only those present)."""
    props: dict[str, Any] = {}
    if (subject := _text(element, "Subject")) is not None:
        props["subject"] = subject
    if (body := _text(element, "Body")) is not None:
        props["body"] = body
    for name in ("Start", "End"):
        if (value := _text(element, name)) is not None:
            props[name.lower()] = _when(value)
    attendees = _t(element, "RequiredAttendees")
    if attendees is not None:
        props["attendees"] = [a.text.lower() for a in attendees.iter(f"{{{NS_T}}}EmailAddress")]
    zone = _t(element, "StartTimeZone")
    if zone is not None and zone.get("Id"):
        props["zone"] = zone.get("Id")
    if (all_day := _text(element, "IsAllDayEvent")) is not None:
        props["all_day"] = all_day in ("true", "1")  # xs:boolean
    for prop in element.iter(f"{{{NS_T}}}ExtendedProperty"):
        uri = _t(prop, "ExtendedFieldURI")
        if uri is not None and uri.get("PropertyName") == "crmsyncMeetingRef":
            props["crm_ref"] = _text(prop, "Value")
    recurrence = _t(element, "Recurrence")
    if recurrence is not None:
        numbered = _t(recurrence, "NumberedRecurrence")
        props["count"] = int(_text(numbered, "NumberOfOccurrences") or 0)
    return props


class CalendarBook:
    """What the double keeps per calendar item beyond :class:`EwsItem`: in ``props``."""

    @staticmethod
    def slots(props: dict[str, Any]) -> list[datetime]:
        """Each occurrence's original start (UTC), weekly at the local time of its zone."""
        count = props.get("count") or 0
        if not count:
            return []
        zone = ZoneInfo(EWSTimeZone.from_ms_id(props["zone"]).key) if props.get("zone") \
            else UTC
        local = props["start"].astimezone(zone)
        return [(local.replace(tzinfo=None) + timedelta(weeks=n)).replace(tzinfo=zone)
                .astimezone(UTC) for n in range(count)]


def ical_of(box_address: str, item_id: str, props: dict[str, Any]) -> bytes:
    """The item's MimeContent: the master, RRULE and EXDATE, moved occurrences."""
    length = props["end"] - props["start"]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:ews-double", "METHOD:PUBLISH"]

    def event(start: datetime, end: datetime, extra: list[str]) -> None:
        lines.extend(["BEGIN:VEVENT", f"UID:{props['uid']}", f"SUMMARY:{props['subject']}",
                      f"DTSTART:{_ical_stamp(start)}", f"DTEND:{_ical_stamp(end)}",
                      f"ORGANIZER:mailto:{box_address}",
                      *[f"ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:{a}"
                        for a in props.get("attendees", [])],
                      f"SEQUENCE:{props.get('sequence', 0)}", *extra, "END:VEVENT"])

    extra = []
    if props.get("count"):
        extra.append(f"RRULE:FREQ=WEEKLY;COUNT={props['count']}")
        slots = CalendarBook.slots(props)
        for index in sorted(props.get("deleted", ())):
            extra.append(f"EXDATE:{_ical_stamp(slots[index - 1])}")
    event(props["start"], props["end"], extra)
    for index, (start, end) in sorted(props.get("moved", {}).items()):
        slot = CalendarBook.slots(props)[index - 1]
        event(start, end, [f"RECURRENCE-ID:{_ical_stamp(slot)}"])
    del length
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def _record(double, call, operation: str, mode: str, attendees: list[str]) -> None:
    double.meeting_messages.append({
        "operation": operation, "mailbox": call.address, "mode": mode, "to": attendees,
        "sent": mode != "SendToNone" and bool(attendees)})


def _save(box, item_id: str | None, props: dict[str, Any]) -> str:
    props["last_modified"] = datetime.now(UTC)
    mime = ical_of(box.address, item_id or "", props)
    single = "RecurringMaster" if props.get("count") else "Single"
    if item_id is None:
        return box.add_item("calendar", kind="CalendarItem", mime=mime, is_read=True,
                            **props, calendar_item_type=single)
    box.update_item(item_id, mime=mime, **props)
    return item_id


def create_calendar_item(double, call, box, element: Any, item_id_xml) -> str:
    """CreateItem of one CalendarItem; returns the response message."""
    import secrets

    props = read_calendar_item(element)
    props.setdefault("subject", "")
    props["uid"] = "040000008200E00074C5B7101A82E008" + secrets.token_hex(16).upper()
    props.setdefault("attendees", [])
    mode = call.body.get("SendMeetingInvitations", "SendToAllAndSaveCopy")
    _record(double, call, "CreateItem", mode, props["attendees"])
    item_id = _save(box, None, props)
    return (f"<m:Items><t:CalendarItem>{item_id_xml(box.items[item_id])}"
            "</t:CalendarItem></m:Items>")


def update_item(double, call, box, item_id_xml, success, error) -> list[str]:
    """UpdateItem: SetItemField on calendar items, ChangeKey checked when asked."""
    from tests.fakes import ews_occurrence_writes as occurrence_writes
    messages = []
    never = call.body.get("ConflictResolution") == "NeverOverwrite"
    mode = call.body.get("SendMeetingInvitationsOrCancellations", "SendToAllAndSaveCopy")
    for change in call.body.iter(f"{{{NS_T}}}ItemChange"):
        ref = _t(change, "ItemId")
        if ref is None:  # an OccurrenceItemId (tests.fakes.ews_occurrence_writes)
            [occurrence] = occurrence_writes.occurrence_refs(change)
            messages.append(occurrence_writes.update_occurrence(
                double, call, box, change, occurrence, success, error))
            continue
        item = box.items.get(ref.get("Id"))
        if item is None:
            messages.append(error("UpdateItem", "ErrorItemNotFound",
                                  "The specified object was not found in the store."))
            continue
        if never and ref.get("ChangeKey") not in (None, current_key(item)):
            messages.append(error(
                "UpdateItem", "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change "
                "key passed in the request does not match the current change key for the "
                "item."))
            continue
        props = dict(item.props)
        for setter in change.iter(f"{{{NS_T}}}SetItemField"):
            props.update(read_calendar_item(setter[-1]))
        props["sequence"] = int(props.get("sequence", 0)) + 1
        _record(double, call, "UpdateItem", mode, props.get("attendees", []))
        _save(box, item.id, props)
        messages.append(success("UpdateItem", f"<m:Items><t:CalendarItem>"
                                f"{item_id_xml(box.items[item.id])}</t:CalendarItem></m:Items>"
                                "<m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"))
    return messages


def delete_item(double, call, box, success, error) -> list[str]:
    """DeleteItem of calendar items (a master takes its series)."""
    from tests.fakes import ews_occurrence_writes as occurrence_writes
    messages = []
    mode = call.body.get("SendMeetingCancellations", "SendToAllAndSaveCopy")
    for ref in call.body.iter(f"{{{NS_T}}}ItemId"):
        item = box.items.get(ref.get("Id"))
        if item is None:
            messages.append(error("DeleteItem", "ErrorItemNotFound",
                                  "The specified object was not found in the store."))
            continue
        _record(double, call, "DeleteItem", mode, list(item.props.get("attendees", [])))
        box.delete_item(item.id)
        messages.append(success("DeleteItem", ""))
    for ref in occurrence_writes.occurrence_refs(call.body):
        messages.append(occurrence_writes.delete_occurrence(double, call, box, ref, success,
                                                            error))
    return messages


def current_key(item) -> str:
    import base64

    return base64.b64encode(f"CK{item.change_key}".encode()).decode()


def calendar_fields(item) -> str:
    """The properties GetItem returns for a calendar item crmsync wrote."""
    props = item.props
    if "start" not in props:
        return ""
    return _fields(props["start"], props["end"], props, None, item.props["last_modified"])


def _fields(start: datetime, end: datetime, props: dict[str, Any],
            original: datetime | None, modified: datetime) -> str:
    people = "".join(f"<t:Attendee><t:Mailbox><t:EmailAddress>{escape(a)}</t:EmailAddress>"
                     "<t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:Attendee>"
                     for a in props.get("attendees", []))
    parts = [f"<t:LastModifiedTime>{_stamp(modified)}</t:LastModifiedTime>",
             f"<t:Start>{_stamp(start)}</t:Start>", f"<t:End>{_stamp(end)}</t:End>"]
    if original is not None:
        parts.append(f"<t:OriginalStart>{_stamp(original)}</t:OriginalStart>")
    parts.append("<t:IsCancelled>false</t:IsCancelled>")
    # an all-day item comes with its zones, in which its midnights are its days
    parts.append(f"<t:IsAllDayEvent>{str(bool(props.get('all_day'))).lower()}"
                 "</t:IsAllDayEvent>")
    if props.get("zone"):
        parts += [f'<t:StartTimeZone Id="{escape(props["zone"])}"/>',
                  f'<t:EndTimeZone Id="{escape(props["zone"])}"/>']
    if people:
        parts.append(f"<t:RequiredAttendees>{people}</t:RequiredAttendees>")
    return "".join(parts)


def get_occurrence(box, element: Any, success, error, item_id_xml) -> str:
    """GetItem of ``OccurrenceItemId``: the instance, or why there is none."""
    master = box.items.get(element.get("RecurringMasterId", ""))
    index = int(element.get("InstanceIndex", "0"))
    if master is None:
        return error("GetItem", "ErrorItemNotFound",
                     "The specified object was not found in the store.")
    props = master.props
    slots = CalendarBook.slots(props)
    if not 1 <= index <= len(slots):
        return error("GetItem", "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                     "Occurrence index is out of recurrence range.")
    if index in props.get("deleted", ()):
        return error("GetItem", "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                     "Occurrence with this index was previously deleted from the recurrence.")
    slot = slots[index - 1]
    start, end = props.get("moved", {}).get(index, (slot, slot + (props["end"] - props["start"])))
    kind = "Exception" if index in props.get("moved", {}) else "Occurrence"
    key = f"{master.change_key}.{index}"
    occurrence_id = f'<t:ItemId Id="{escape(master.id)}.{index}" ChangeKey="{key}"/>'
    inner = (f"<t:CalendarItem>{occurrence_id}"
             f"<t:Subject>{escape(str(props.get('subjects', {}).get(index, props['subject'])))}"
             f"</t:Subject>{_fields(start, end, props, slot, props['last_modified'])}"
             f"<t:UID>{escape(str(props['uid']))}</t:UID>"
             f"<t:CalendarItemType>{kind}</t:CalendarItemType></t:CalendarItem>")
    return success("GetItem", f"<m:Items>{inner}</m:Items>")


def find_items(box, operation: Any, success, item_id_xml) -> str:
    """FindItem in the calendar restricted to crmsync's extended property (IsEqualTo)."""
    constant = operation.find(f".//{{{NS_T}}}Constant")
    wanted = None if constant is None else constant.get("Value")
    calendar = box.folder_id("calendar")
    found = [i for i in box.items.values() if i.folder_id == calendar
             and wanted is not None and i.props.get("crm_ref") == wanted]
    items = "".join(
        f"<t:CalendarItem>{item_id_xml(i)}<t:Subject>{escape(str(i.props['subject']))}"
        f"</t:Subject>{calendar_fields(i)}<t:UID>{escape(str(i.props['uid']))}</t:UID>"
        "</t:CalendarItem>" for i in found)
    return success("FindItem", f'<m:RootFolder IndexedPagingOffset="{len(found)}" '
                   f'TotalItemsInView="{len(found)}" IncludesLastItemInRange="true">'
                   f"<t:Items>{items}</t:Items></m:RootFolder>")


# -- the rep in Outlook ----------------------------------------------------------------------


def edit_item(box, item_id: str, **props: Any) -> None:
    """Change a calendar item as Outlook does (a new ChangeKey, an Update in the journal)."""
    with box.lock:
        merged = {**box.items[item_id].props, **props}
        merged["sequence"] = int(merged.get("sequence", 0)) + 1
        _save(box, item_id, merged)


def move_occurrence(box, master_id: str, index: int, start: datetime, end: datetime) -> None:
    """Move one occurrence of a series (it becomes an exception)."""
    moved = dict(box.items[master_id].props.get("moved", {}))
    moved[index] = (start, end)
    edit_item(box, master_id, moved=moved)


def delete_occurrence(box, master_id: str, index: int) -> None:
    """Delete one occurrence of a series."""
    deleted = set(box.items[master_id].props.get("deleted", ())) | {index}
    edit_item(box, master_id, deleted=deleted)


def change_unseen(box, item_id: str, **props: Any) -> None:
    """Change the item in Exchange without a journal entry yet (the sync has not seen it)."""
    with box.lock:
        item = box.items[item_id]
        item.props.update(props)
        item.props["last_modified"] = datetime.now(UTC)
        item.change_key += 1


def element_name(element: Any) -> str:
    return etree.QName(element).localname
