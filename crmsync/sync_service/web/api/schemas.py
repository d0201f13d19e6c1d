"""Request and response shapes of the API (marshmallow; they generate the OpenAPI document).

Text fields are bounded so a hostile client cannot make the server hold megabytes
per request; responses carry mail text as plain strings (the pane renders text).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

KINDS = ("contact", "account", "opportunity", "case")
Short = fields.String
_text = validate.Length(max=1000)
_line = validate.Length(max=320)
_id = validate.Length(max=200)


class Strict(Schema):
    """Inputs: unknown fields are an error (422), so typos do not pass silently."""


# -- inputs ----------------------------------------------------------------------------------


class AddressQuery(Strict):
    address = Short(validate=_line, metadata={"description": "an email address"})


class Person(Strict):
    address = Short(required=True, validate=_line)
    name = Short(load_default="", validate=_line)


class ItemIn(Strict):
    """The Outlook item the pane is showing (``Office.context.mailbox.item``)."""

    mode = Short(load_default="read", validate=validate.OneOf(["read", "compose", "appointment"]))
    internet_message_id = Short(load_default=None, allow_none=True, validate=_text)
    conversation_id = Short(load_default=None, allow_none=True, validate=_text)
    item_id = Short(load_default=None, allow_none=True, validate=_text)
    rest_item_id = Short(load_default=None, allow_none=True, validate=_text,
                         metadata={"description": "a meeting's item id in REST/Graph form"})
    subject = Short(load_default="", validate=validate.Length(max=2000))
    sender = fields.Nested(Person, load_default=None, allow_none=True, data_key="from")
    to = fields.List(fields.Nested(Person), load_default=list, validate=validate.Length(max=200))
    cc = fields.List(fields.Nested(Person), load_default=list, validate=validate.Length(max=200))
    occurred_at = fields.AwareDateTime(load_default=None, allow_none=True)
    body_excerpt = Short(load_default="", validate=validate.Length(max=20000))


class TargetIn(Strict):
    type = Short(required=True, validate=validate.OneOf(KINDS))
    external_id = Short(required=True, validate=validate.Length(min=1, max=200),
                        metadata={"description": "external id, or the number of a case"})


class TrackIn(Strict):
    internet_message_id = Short(required=True, validate=validate.Length(min=3, max=1000))
    target = fields.Nested(TargetIn, required=True)
    item = fields.Nested(ItemIn, load_default=None, allow_none=True, metadata={
        "description": "accepted and ignored: a mail is stored only by a sync"})


class UntrackIn(Strict):
    internet_message_id = Short(required=True, validate=validate.Length(min=3, max=1000))
    target = fields.Nested(TargetIn, required=True)


class IntentIn(Strict):
    conversation_id = Short(load_default=None, allow_none=True, validate=_text)
    internet_message_id = Short(load_default=None, allow_none=True, validate=_text)
    item_id = Short(load_default=None, allow_none=True, validate=_text)
    send_token = Short(load_default=None, allow_none=True, validate=validate.Length(max=64),
                       metadata={"description": "the token this draft's X-CRMSync-Track "
                                 "header already holds, to add another record to it"})
    target = fields.Nested(TargetIn, required=True)


class MeetingLinkIn(Strict):
    """A meeting as Office.js names it; at least one key is needed."""

    item_id = Short(load_default=None, allow_none=True, validate=_text,
                    metadata={"description": "Office.js item id (EWS form)"})
    rest_item_id = Short(load_default=None, allow_none=True, validate=_text,
                         metadata={"description": "the item id in REST/Graph form"})
    ical_uid = Short(load_default=None, allow_none=True, validate=_text)
    target = fields.Nested(TargetIn, required=True)


class ContactIn(Strict):
    email = fields.Email(required=True, validate=_line)
    first_name = Short(load_default="", validate=validate.Length(max=200))
    last_name = Short(load_default="", validate=validate.Length(max=200))
    title = Short(load_default="", validate=validate.Length(max=200))
    phone = Short(load_default="", validate=validate.Length(max=100))
    account_external_id = Short(load_default=None, allow_none=True, validate=_id)


class CaseIn(Strict):
    subject = Short(required=True, validate=validate.Length(min=1, max=2000))
    description = Short(load_default="", validate=validate.Length(max=20000))
    priority = Short(load_default="Normal", validate=validate.OneOf(["Low", "Normal", "High"]))
    contact_external_id = Short(load_default=None, allow_none=True, validate=_id)
    account_external_id = Short(load_default=None, allow_none=True, validate=_id)
    internet_message_id = Short(load_default=None, allow_none=True, validate=_text)
    item = fields.Nested(ItemIn, load_default=None, allow_none=True)


class CaseReplyIn(Strict):
    """An agent's answer to a case, sent from its support mailbox."""

    body = Short(required=True, validate=validate.Length(min=1, max=20000))
    client_key = Short(load_default="", validate=validate.Length(max=100), metadata={
        "description": "the same key again (a retry, a double click) is the same reply"})


class SearchQuery(Strict):
    q = Short(required=True, validate=validate.Length(min=1, max=200))
    type = Short(load_default=None, validate=validate.OneOf(KINDS))


class TimelineQuery(Strict):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class TemplatesQuery(Strict):
    subject = Short(load_default="", validate=validate.Length(max=2000))
    internet_message_id = Short(load_default=None, validate=_text)
    conversation_id = Short(load_default=None, validate=_text)
    address = Short(load_default=None, validate=_line)
    case_number = Short(load_default=None, validate=validate.Length(max=20))
    language = Short(load_default=None, validate=validate.Length(max=20))


# -- outputs ---------------------------------------------------------------------------------


class ContactOut(Schema):
    external_id = Short()
    name = Short()
    first_name = Short()
    last_name = Short()
    title = Short()
    phone = Short()
    emails = fields.List(Short())


class AccountOut(Schema):
    external_id = Short()
    name = Short()


class OpportunityOut(Schema):
    external_id = Short()
    name = Short()
    stage = Short()
    amount = Short(allow_none=True, metadata={"description": "null when the role may not see it"})
    close_date = Short(allow_none=True)


class CaseOut(Schema):
    number = Short()
    subject = Short()
    status = Short()
    priority = Short()


class ActivityOut(Schema):
    id = Short()
    kind = Short()
    subject = Short()
    occurred_at = Short()
    direction = Short()


class LookupOut(Schema):
    address = Short()
    contact = fields.Nested(ContactOut, allow_none=True)
    account = fields.Nested(AccountOut, allow_none=True)
    opportunities = fields.List(fields.Nested(OpportunityOut))
    cases = fields.List(fields.Nested(CaseOut))
    recent_activities = fields.List(fields.Nested(ActivityOut))


class PrefillOut(Schema):
    email = Short()
    first_name = Short()
    last_name = Short()
    account = fields.Nested(AccountOut, allow_none=True)


class SignalsOut(Schema):
    """The account's relationship signals (:mod:`crmsync.crm.signals`), from what the
    viewer may see."""

    last_exchange = Short(allow_none=True)
    days_since = fields.Integer(allow_none=True)
    mails_30d = fields.Integer()
    mails_90d = fields.Integer()
    meetings_30d = fields.Integer()
    meetings_90d = fields.Integer()
    active_days_180d = fields.Integer()
    median_gap_days = fields.Float(allow_none=True)
    going_quiet = fields.Boolean()


class CardOut(LookupOut):
    name = Short()
    role = Short()
    prefill = fields.Nested(PrefillOut, allow_none=True)
    signals = fields.Nested(SignalsOut, allow_none=True)


class RecordRef(Schema):
    type = Short()
    external_id = Short()
    name = Short()


class LinkOut(RecordRef):
    reason = Short()
    source = Short()
    confidence = fields.Float()
    created_by = Short(allow_none=True)


class SuggestionOut(RecordRef):
    reason = Short()
    score = fields.Float()


class TrackingOut(Schema):
    internet_message_id = Short(allow_none=True)
    stored = fields.Boolean()
    links = fields.List(fields.Nested(LinkOut))


class UserOut(Schema):
    email = Short()
    name = Short()
    role = Short()


class ContextOut(Schema):
    user = fields.Nested(UserOut)
    participants = fields.List(fields.Nested(CardOut))
    tracking = fields.Nested(TrackingOut)
    suggestions = fields.List(fields.Nested(SuggestionOut))


class TrackOut(TrackingOut):
    created = fields.Boolean()
    pending = fields.Boolean(metadata={
        "description": "crmsync holds no such mail you may see: the link is made when the "
                       "mail is synced from one of your mailboxes"})


class IntentOut(Schema):
    id = fields.Integer()
    target = fields.Nested(RecordRef)
    conversation_id = Short(allow_none=True)
    internet_message_id = Short(allow_none=True)
    send_token = Short(allow_none=True, metadata={
        "description": "set it as the draft's header (see `header`) so the sent copy is "
                       "tracked on any mail system, IMAP included"})
    header = Short(allow_none=True, metadata={"description": "the header's name"})


class MeetingLinkOut(Schema):
    target = fields.Nested(RecordRef)
    linked = fields.Boolean(metadata={"description": "crmsync held the meeting: linked now"})
    pending = fields.Boolean(metadata={
        "description": "crmsync does not hold it yet: linked when it is synced or imported"})
    links = fields.List(fields.Nested(LinkOut))


class SearchOut(Schema):
    results = fields.List(fields.Nested(RecordRef))


class CaseCreatedOut(CaseOut):
    description = Short()
    contact_external_id = Short(allow_none=True)
    account_external_id = Short(allow_none=True)
    linked_message = fields.Boolean()


class CaseReplyOut(Schema):
    case = Short()
    message_id = Short(metadata={"description": "the reply's Message-ID"})
    status = Short(metadata={"description": "pending until the outbox has sent it"})
    activity_id = Short(allow_none=True, metadata={"description": "the reply on the case"})


class TimelineOut(Schema):
    record = fields.Nested(RecordRef)
    activities = fields.List(fields.Nested(ActivityOut))


class TemplateOut(Schema):
    id = fields.Integer()
    name = Short()
    subject = Short()
    body = Short()
    language = Short()
    category = Short()
    matched = fields.List(Short())
    score = fields.Float()


class TemplatesOut(Schema):
    templates = fields.List(fields.Nested(TemplateOut))
