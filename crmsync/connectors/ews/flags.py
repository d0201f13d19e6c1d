"""A mail's flags as crmsync records them: read (``\\Seen``) and follow-up (``\\Flagged``).

EWS reports the read state as ``IsRead`` (and ``ReadFlagChange`` when only it changed);
the follow-up flag is MAPI's ``PidTagFlagStatus`` (0x1090: 2 flagged, 1 completed),
which exchangelib exposes only as an extended property, registered here once on every
item type the mail folders hold. Graph's ``flag.flagStatus == "flagged"`` and IMAP's
``\\Flagged`` mean the same.
"""

from __future__ import annotations

from typing import Any

from exchangelib import ExtendedProperty
from exchangelib.items import MeetingCancellation, MeetingRequest, MeetingResponse, Message

FIELD = "flag_status"
#: PidTagFlagStatus value of a mail flagged for follow-up
FLAGGED = 2


class FlagStatus(ExtendedProperty):
    """MAPI PidTagFlagStatus (https://learn.microsoft.com/office/client-developer/outlook/mapi/pidtagflagstatus-canonical-property)."""

    property_tag = 0x1090
    property_type = "Integer"


for _kind in (Message, MeetingRequest, MeetingResponse, MeetingCancellation):
    if FIELD not in {f.name for f in _kind.FIELDS}:
        _kind.register(FIELD, FlagStatus)


def flags(item: Any, is_read: bool | None = None) -> tuple[str, ...]:
    """``\\Seen`` and ``\\Flagged`` of an exchangelib item (``is_read`` overrides its own)."""
    read = getattr(item, "is_read", None) if is_read is None else is_read
    return (("\\Seen",) if read else ()) + (
        ("\\Flagged",) if getattr(item, FIELD, None) == FLAGGED else ())
