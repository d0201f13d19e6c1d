"""Pure decisions about mail for the CRM: no I/O, no clock it is not given (see README.md).

Records come in from :mod:`crmsync.connectors.base` together with a :class:`Directory`
snapshot of the CRM; :class:`MailDecision` and :class:`ProposedLink` values go out.
"""

from crmsync.mapping.addresses import (
    Address,
    decode_header_text,
    domain_of,
    normalize_address,
    parse_address_list,
)
from crmsync.mapping.dates import choose_occurred_at, parse_date_header
from crmsync.mapping.directory import AccountEntry, ContactEntry, Directory, OpportunityEntry
from crmsync.mapping.freemail import is_free_mail_domain
from crmsync.mapping.mail import MailDecision, decide_mail
from crmsync.mapping.matchers import (
    DEFAULT_MATCHERS,
    ContactAccountMatcher,
    ContactAddressMatcher,
    DomainAccountMatcher,
    Matcher,
    match_participants,
)
from crmsync.mapping.policy import DEFAULT_POLICY, SUPPORT_POLICY, CapturePolicy
from crmsync.mapping.records import Participant, ProposedLink
from crmsync.mapping.subjects import normalize_subject, subject_key
from crmsync.mapping.threads import conversation_key, parse_message_ids

__all__ = [
    "DEFAULT_POLICY",
    "SUPPORT_POLICY",
    "CapturePolicy",
    "DEFAULT_MATCHERS",
    "AccountEntry",
    "Address",
    "ContactAccountMatcher",
    "ContactAddressMatcher",
    "ContactEntry",
    "Directory",
    "DomainAccountMatcher",
    "MailDecision",
    "Matcher",
    "OpportunityEntry",
    "Participant",
    "ProposedLink",
    "choose_occurred_at",
    "conversation_key",
    "decide_mail",
    "decode_header_text",
    "domain_of",
    "is_free_mail_domain",
    "match_participants",
    "normalize_address",
    "normalize_subject",
    "parse_address_list",
    "parse_date_header",
    "parse_message_ids",
    "subject_key",
]
