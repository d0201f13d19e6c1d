"""Write meetings booked in the CRM to the Exchange calendar, and read them back.

See :class:`crmsync.connectors.calendar_writes.CalendarWriting` for the contract.

- https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem:
  ``SendMeetingInvitations`` is ``SendToNone`` unless the rep invited the attendees
  (``SendToAllAndSaveCopy``). As with Graph, the people of a meeting nobody was invited
  to are written into its body, not its attendee list: an appointment with attendees
  would make Outlook offer to "send the update" to people who never got the request.
- UpdateItem: ``ConflictResolution="NeverOverwrite"`` with the stored ``ChangeKey``, so
  an item changed since is refused (``ErrorIrresolvableConflict`` →
  :class:`CalendarChangedError`); ``SendMeetingInvitationsOrCancellations`` is
  ``SendToChangedAndSaveCopy`` for an invited meeting, else ``SendToNone``.
- DeleteItem: ``SendMeetingCancellations`` ``SendToAllAndSaveCopy`` for an invited
  meeting, else ``SendToNone``; a series goes whole.
- crmsync's id of the meeting is kept in a named extended property (PublicStrings,
  ``crmsyncMeetingRef``); ``find_event`` is a FindItem restricted to it.
- An all-day meeting is ``IsAllDayEvent`` with Start and End at midnight in the
  booking's zone (StartTimeZone/EndTimeZone; End the day after the last one), as
  https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-create-all-day-events-by-using-ews-in-exchange
  describes. Read back, exchangelib gives its days (End as the last day), taken in the
  item's own zones, which are read with it.
- A series is a ``WeeklyPattern`` with a ``NumberedPattern`` range; its occurrences are
  read with ``GetItem`` of ``OccurrenceItemId`` (master id + instance index), a deleted
  one answering ``ErrorCalendarOccurrenceIsDeletedFromRecurrence``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import Attendee, CalendarItem, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib import errors as ews
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.fields import InvalidField
from exchangelib.items import (
    ALL_OCCURRENCES,
    NEVER_OVERWRITE,
    SEND_TO_ALL_AND_SAVE_COPY,
    SEND_TO_CHANGED_AND_SAVE_COPY,
    SEND_TO_NONE,
)
from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

from crmsync.connectors.calendar_writes import (
    CalendarChangedError,
    CalendarWriteError,
    EventDraft,
    EventState,
    OccurrenceRef,
)
from crmsync.connectors.ews.errors import translated

#: what a read asks for (a master or an occurrence)
READ_FIELDS = ("subject", "start", "end", "required_attendees", "uid", "original_start",
               "last_modified_time", "is_cancelled", "is_all_day", "_start_timezone",
               "_end_timezone")
#: exchangelib's weekday numbers (ISO: Monday = 1)
WEEKDAYS = (1, 2, 3, 4, 5, 6, 7)


#: the CalendarItem attribute that holds crmsync's id of the meeting
REF_FIELD = "crmsync_meeting_ref"


class CrmRef(ExtendedProperty):
    """crmsync's id of a meeting it created, in the PublicStrings property set."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "crmsyncMeetingRef"
    property_type = "String"


def _register_ref() -> None:
    """Teach exchangelib's CalendarItem the property (once per process, when first
    writing; exchangelib keeps it on the class)."""
    try:
        CalendarItem.get_field_by_fieldname(REF_FIELD)
    except InvalidField:
        CalendarItem.register(REF_FIELD, CrmRef)


def people_text(attendees: tuple[str, ...] | list[str]) -> str:
    """The body line that names the people when they are not invited."""
    return "With: " + ", ".join(attendees) if attendees else ""


def _moment(value: datetime, tzid: str) -> EWSDateTime:
    zone = EWSTimeZone("UTC") if tzid == "UTC" else EWSTimeZone(tzid)
    local = value.astimezone(UTC if tzid == "UTC" else ZoneInfo(tzid))
    return EWSDateTime.from_datetime(local.replace(tzinfo=None)).replace(tzinfo=zone)


def _day(value: datetime, tzid: str) -> EWSDateTime:
    """An all-day meeting's day (``value``: its midnight UTC) at midnight in ``tzid``."""
    zone = EWSTimeZone("UTC") if tzid == "UTC" else EWSTimeZone(tzid)
    return EWSDateTime.from_datetime(
        datetime.combine(value.astimezone(UTC).date(), time())).replace(tzinfo=zone)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _attendees(addresses: tuple[str, ...] | list[str]) -> list[Attendee]:
    return [Attendee(mailbox=Mailbox(email_address=a), response_type="Unknown")
            for a in addresses]


def state_of(item: Any) -> EventState:
    """An exchangelib calendar item as an :class:`EventState` (pure)."""
    def utc(value: Any) -> datetime | None:
        return None if value is None else datetime.fromtimestamp(value.timestamp(), UTC)

    people = tuple(sorted(str(a.mailbox.email_address).lower()
                          for a in item.required_attendees or []
                          if a.mailbox is not None and a.mailbox.email_address))
    all_day = bool(getattr(item, "is_all_day", False))
    if all_day and not isinstance(item.start, datetime):
        # exchangelib's days of an all-day item, End the last day (not the day after)
        start, end = _midnight(item.start), _midnight(item.end) + timedelta(days=1)
    else:
        start, end = utc(item.start), utc(item.end)
    assert start is not None and end is not None
    return EventState(
        all_day=all_day,
        remote_id=item.id, change_key=item.changekey, subject=item.subject or "",
        start=start, end=end, attendees=people, ical_uid=item.uid,
        original_start=utc(item.original_start), modified_at=utc(item.last_modified_time),
        is_cancelled=bool(item.is_cancelled))


class _NoOccurrenceError(CalendarWriteError):
    """GetItem found no occurrence at an index: deleted, or past the series' end."""

    def __init__(self, deleted: bool) -> None:
        super().__init__("no such occurrence")
        self.deleted = deleted


class EwsEventWriter:
    """The :class:`CalendarWriting` operations of one Exchange mailbox.

    :param guard: runs one request with the connector's back-off and error translation.
    """

    def __init__(self, account: Any, calendar: Any,
                 guard: Callable[[Callable[[], Any]], Any]) -> None:
        self.account, self.calendar, self.guard = account, calendar, guard
        _register_ref()

    def create_event(self, draft: EventDraft) -> EventState:
        """See `CalendarWriting.create_event` (CreateItem)."""
        body = draft.body if draft.invite else "\n\n".join(
            p for p in (people_text(draft.attendees), draft.body) if p)
        stamp = _day if draft.all_day else _moment
        item = CalendarItem(
            account=self.account, folder=self.calendar, subject=draft.subject, body=body,
            start=stamp(draft.start, draft.tzid), end=stamp(draft.end, draft.tzid),
            is_all_day=draft.all_day,
            required_attendees=_attendees(draft.attendees) if draft.invite else None)
        if draft.weekly_count:
            local = draft.start.astimezone(ZoneInfo(draft.tzid))
            item.recurrence = Recurrence(
                pattern=WeeklyPattern(interval=1, weekdays=[WEEKDAYS[local.weekday()]],
                                      first_day_of_week=1),
                boundary=NumberedPattern(start=local.date(), number=draft.weekly_count))
        if draft.crm_ref:
            setattr(item, REF_FIELD, draft.crm_ref)
        mode = SEND_TO_ALL_AND_SAVE_COPY if draft.invite else SEND_TO_NONE
        self._call(lambda: item.save(send_meeting_invitations=mode))
        found = self.read_event(item.id)
        if found is None:
            raise CalendarWriteError("Exchange lost the meeting it just created")
        return found

    def find_event(self, crm_ref: str) -> EventState | None:
        """See `CalendarWriting.find_event` (FindItem on the extended property)."""
        found = self._call(lambda: list(self.calendar.filter(
            **{REF_FIELD: crm_ref}).only(*READ_FIELDS)))
        return state_of(found[0]) if found else None

    def read_event(self, remote_id: str) -> EventState | None:
        """See `CalendarWriting.read_event` (GetItem)."""
        [item] = self._call(lambda: list(self.account.fetch(
            ids=[(remote_id, None)], only_fields=list(READ_FIELDS))))
        if isinstance(item, ews.ErrorItemNotFound):
            return None
        if isinstance(item, Exception):
            raise CalendarWriteError(f"Exchange GetItem: {item}")
        return state_of(item)

    def update_event(self, remote_id: str, change_key: str, changes: Mapping[str, object],
                     invite: bool) -> EventState:
        """See `CalendarWriting.update_event` (UpdateItem, NeverOverwrite)."""
        item = CalendarItem(account=self.account, folder=self.calendar, id=remote_id,
                            changekey=change_key)
        self._save_changes(item, changes, invite)
        found = self.read_event(remote_id)
        if found is None:
            raise CalendarWriteError("Exchange lost the meeting it just updated")
        return found

    def update_occurrence(self, ref: OccurrenceRef, changes: Mapping[str, object],
                          invite: bool) -> EventState:
        """See `CalendarWriting.update_occurrence`: UpdateItem of the
        ``OccurrenceItemId`` (series id, instance index, the occurrence's ChangeKey), so
        Exchange makes it an exception and leaves the rest of the series."""
        self._save_changes(self._occurrence(ref), changes, invite)
        [found] = self._fetch([self._occurrence(ref, versioned=False)])
        return found

    def cancel_occurrence(self, ref: OccurrenceRef, invite: bool) -> None:
        """See `CalendarWriting.cancel_occurrence`: DeleteItem of the ``OccurrenceItemId``
        (``SendToNone`` unless invited); one already deleted is not an error."""
        item = self._occurrence(ref)
        mode = SEND_TO_ALL_AND_SAVE_COPY if invite else SEND_TO_NONE
        try:
            self._call(lambda: item.delete(send_meeting_cancellations=mode,
                                           affected_task_occurrences=ALL_OCCURRENCES))
        except CalendarWriteError as exc:
            if "OccurrenceIsDeletedFromRecurrence" not in str(exc):
                raise

    def _occurrence(self, ref: OccurrenceRef, versioned: bool = True) -> Any:
        master = CalendarItem(account=self.account, folder=self.calendar, id=ref.series_id,
                              changekey=ref.change_key if versioned else None)
        return master.occurrence(ref.index)

    def _save_changes(self, item: Any, changes: Mapping[str, object], invite: bool) -> None:
        """UpdateItem of ``changes`` with NeverOverwrite; the invitation mode as invited."""
        fields = []
        all_day = bool(changes.get("all_day"))
        if "all_day" in changes:
            item.is_all_day, _ = all_day, fields.append("is_all_day")
        for name, value in changes.items():
            if name in ("start", "end"):
                moment = _day(value, str(changes.get("tzid") or "UTC")) if all_day \
                    else _moment(value, "UTC")  # type: ignore[arg-type]
                setattr(item, name, moment)
                fields.append(name)
            elif name == "subject":
                item.subject, _ = str(value), fields.append("subject")
            elif name == "body":
                item.body, _ = str(value), fields.append("body")
            elif name == "attendees":
                item.required_attendees = _attendees(list(value))  # type: ignore[call-overload]
                fields.append("required_attendees")
        mode = SEND_TO_CHANGED_AND_SAVE_COPY if invite else SEND_TO_NONE
        self._call(lambda: item.save(update_fields=fields, conflict_resolution=NEVER_OVERWRITE,
                                     send_meeting_invitations=mode))

    def delete_event(self, remote_id: str, change_key: str, invite: bool) -> None:
        """See `CalendarWriting.delete_event` (DeleteItem)."""
        item = CalendarItem(account=self.account, folder=self.calendar, id=remote_id,
                            changekey=change_key)
        mode = SEND_TO_ALL_AND_SAVE_COPY if invite else SEND_TO_NONE
        try:
            self._call(lambda: item.delete(send_meeting_cancellations=mode,
                                           affected_task_occurrences=ALL_OCCURRENCES))
        except CalendarWriteError as exc:
            if "ErrorItemNotFound" not in str(exc):
                raise

    def occurrences(self, remote_id: str, start: datetime, end: datetime) -> list[EventState]:
        """See `CalendarWriting.occurrences`: each instance index of the series until
        the range ends, 20 to a GetItem; deleted ones are left out.

        exchangelib raises (rather than returns) the two "no such occurrence" answers,
        so a batch that meets one is read again one index at a time.
        """
        master = CalendarItem(account=self.account, folder=self.calendar, id=remote_id)
        found: list[EventState] = []
        index = 1
        while True:
            try:
                batch = self._fetch([master.occurrence(i) for i in range(index, index + 20)])
            except _NoOccurrenceError:
                batch = None
            if batch is not None:
                found += batch
                index += 20
                continue
            for single in range(index, index + 20):
                try:
                    found += self._fetch([master.occurrence(single)])
                except _NoOccurrenceError as exc:
                    if not exc.deleted:  # past the last occurrence
                        return [s for s in found if s.start < end and s.end > start]
            index += 20

    def _fetch(self, ids: list[Any]) -> list[EventState]:
        def fetch() -> list[Any]:
            try:
                return list(self.account.fetch(ids=ids, only_fields=list(READ_FIELDS)))
            except ews.ErrorCalendarOccurrenceIsDeletedFromRecurrence as exc:
                raise _NoOccurrenceError(deleted=True) from exc
            except ews.ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange as exc:
                raise _NoOccurrenceError(deleted=False) from exc

        answers = self._call(fetch)
        for answer in answers:
            if isinstance(answer, Exception):
                raise CalendarWriteError(f"Exchange GetItem (occurrence): {answer}")
        return [state_of(answer) for answer in answers]

    def _call(self, request: Callable[[], Any]) -> Any:
        """Run one request through the connector's guard (back-off, sign-in and
        connection errors); Exchange's refusal of this item is a :class:`CalendarWriteError`."""
        def refused_as_write_errors() -> Any:
            try:
                return request()
            except ews.ErrorIrresolvableConflict as exc:
                raise CalendarChangedError(f"the meeting changed in Exchange: {exc}") from exc
            except ews.ResponseMessageError as exc:
                if translated(exc, self.account.primary_smtp_address) is not None:
                    raise  # throttling, a refused sign-in, a locked mailbox: the run's
                raise CalendarWriteError(f"Exchange: {type(exc).__name__}: {exc}") from exc

        return self.guard(refused_as_write_errors)
