"""The Exchange double's writes to one occurrence of a series: UpdateItem and DeleteItem
of an ``OccurrenceItemId``.

Follows https://learn.microsoft.com/exchange/client-developer/web-service-reference/
occurrenceitemid, updateitem and deleteitem: the occurrence is named by its series'
item id (``RecurringMasterId``) and its 1-based ``InstanceIndex``; an update makes it an
exception of the series (kept in the master's ``moved`` / ``subjects``), a delete
removes it from the series (``deleted``); the rest of the series is untouched. With
``ConflictResolution="NeverOverwrite"`` a ``ChangeKey`` other than the occurrence's
current one (what GetItem of the occurrence answered) is refused with
``ErrorIrresolvableConflict``. Each write is recorded with its invitation mode like the
other calendar writes (:mod:`tests.fakes.ews_calendar_writes`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakes import ews_calendar_writes as writes

NS_T = writes.NS_T


def occurrence_refs(element: Any) -> list[Any]:
    """The ``OccurrenceItemId`` elements under ``element``."""
    return list(element.iter(f"{{{NS_T}}}OccurrenceItemId"))


def occurrence_key(master: Any, index: int) -> str:
    """The occurrence's ChangeKey: it changes with every change of the series item."""
    return f"{master.change_key}.{index}"


def _target(box: Any, ref: Any, operation: str, error: Callable[..., str]
            ) -> tuple[Any, int, str | None]:
    """The master and index ``ref`` names, or the error Exchange answers."""
    master = box.items.get(ref.get("RecurringMasterId", ""))
    index = int(ref.get("InstanceIndex", "0"))
    if master is None:
        return None, index, error(operation, "ErrorItemNotFound",
                                  "The specified object was not found in the store.")
    if not 1 <= index <= len(writes.CalendarBook.slots(master.props)):
        return None, index, error(operation, "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                                  "Occurrence index is out of recurrence range.")
    if index in master.props.get("deleted", ()):
        return None, index, error(
            operation, "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
            "Occurrence with this index was previously deleted from the recurrence.")
    return master, index, None


def update_occurrence(double: Any, call: Any, box: Any, change: Any, ref: Any,
                      success: Callable[..., str], error: Callable[..., str]) -> str:
    """One ``ItemChange`` naming an occurrence: its SetItemFields make it an exception."""
    master, index, refused = _target(box, ref, "UpdateItem", error)
    if refused is not None:
        return refused
    never = call.body.get("ConflictResolution") == "NeverOverwrite"
    if never and ref.get("ChangeKey") not in (None, occurrence_key(master, index)):
        return error("UpdateItem", "ErrorIrresolvableConflict",
                     "The send or update operation could not be performed because the "
                     "change key passed in the request does not match the current change "
                     "key for the item.")
    props = dict(master.props)
    slot = writes.CalendarBook.slots(props)[index - 1]
    start, end = props.get("moved", {}).get(index, (slot, slot + (props["end"] - props["start"])))
    fields: dict[str, Any] = {}
    for setter in change.iter(f"{{{NS_T}}}SetItemField"):
        fields.update(writes.read_calendar_item(setter[-1]))
    start, end = fields.get("start", start), fields.get("end", end)
    if (start, end) != (slot, slot + (props["end"] - props["start"])):
        props["moved"] = {**props.get("moved", {}), index: (start, end)}
    if "subject" in fields and fields["subject"] != props["subject"]:
        props["subjects"] = {**props.get("subjects", {}), index: fields["subject"]}
    props["sequence"] = int(props.get("sequence", 0)) + 1
    mode = call.body.get("SendMeetingInvitationsOrCancellations", "SendToAllAndSaveCopy")
    writes._record(double, call, "UpdateItem", mode, props.get("attendees", []))
    writes._save(box, master.id, props)
    return success("UpdateItem", "<m:Items><t:CalendarItem>"
                   f'<t:ItemId Id="{master.id}.{index}" '
                   f'ChangeKey="{occurrence_key(master, index)}"/></t:CalendarItem></m:Items>'
                   "<m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>")


def delete_occurrence(double: Any, call: Any, box: Any, ref: Any,
                      success: Callable[..., str], error: Callable[..., str]) -> str:
    """DeleteItem of an occurrence: it leaves the series, the rest stays."""
    master, index, refused = _target(box, ref, "DeleteItem", error)
    if refused is not None:
        return refused
    mode = call.body.get("SendMeetingCancellations", "SendToAllAndSaveCopy")
    writes._record(double, call, "DeleteItem", mode, list(master.props.get("attendees", [])))
    props = dict(master.props)
    props["deleted"] = set(props.get("deleted", ())) | {index}
    props["sequence"] = int(props.get("sequence", 0)) + 1
    writes._save(box, master.id, props)
    return success("DeleteItem", "")
