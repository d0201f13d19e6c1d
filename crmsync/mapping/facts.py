"""What a mail says about itself, read once: its ids, subject, date and thread keys.

These depend on the record alone, never on the CRM, so they can be computed anywhere
and ahead of time: a backfill's fetch process computes them beside the fetching, on the
other core, and the decision and the store read them instead of parsing the headers
again (:func:`~crmsync.mapping.mail.decide_mail` computes them when not given).

A plain tuple on purpose: pages of them cross a pipe, and a tuple is rebuilt there
without running Python code per field.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from crmsync.connectors.base import MailMessage
from crmsync.mapping.addresses import decode_header_text
from crmsync.mapping.dates import parse_date_header
from crmsync.mapping.threads import conversation_key, parse_message_ids

__all__ = ["FactsKey", "MailFacts", "facts_key", "mail_facts"]


class MailFacts(NamedTuple):
    """The parsed, CRM-independent facts of one mail.

    :param message_id: the normalized Message-ID, if any.
    :param subject: the decoded subject.
    :param date: the Date header, parsed (UTC), ``None`` when missing or unreadable.
    :param conversation: :func:`~crmsync.mapping.threads.conversation_key`, else
        ``"hash:<content hash>"``.
    :param lookup_keys: the ids it replies to or references, and ``conv:<id>`` (see
        :func:`~crmsync.mapping.mail.thread_lookup_keys`).
    :param own_keys: its own Message-ID and ``conv:<id>`` (:func:`~.mail.thread_keys`).
    """

    message_id: str | None
    subject: str
    date: datetime | None
    conversation: str
    lookup_keys: tuple[str, ...]
    own_keys: tuple[str, ...]


def mail_facts(message: MailMessage) -> MailFacts:
    """Return ``message``'s facts (pure: the same record always gives the same facts)."""
    headers = message.headers
    own_ids = parse_message_ids(headers.get("message-id"))
    message_id = own_ids[0] if own_ids else None
    in_reply_to = parse_message_ids(headers.get("in-reply-to"))
    references = parse_message_ids(headers.get("references"))
    conversation = conversation_key(message_id, in_reply_to, references,
                                    message.conversation_id)
    lookup = dict.fromkeys(in_reply_to + references)
    own = [message_id] if message_id else []
    if message.conversation_id:
        lookup[f"conv:{message.conversation_id}"] = None
        own.append(f"conv:{message.conversation_id}")
    return MailFacts(
        message_id=message_id,
        subject=decode_header_text(headers.get("subject")),
        date=parse_date_header(headers.get("date")),
        conversation=conversation or f"hash:{message.content_hash}",
        lookup_keys=tuple(lookup),
        own_keys=tuple(own),
    )


#: which mail a :class:`MailFacts` belongs to: its item id and content hash (an item id
#: alone could name two versions of a mail in one page)
FactsKey = tuple[str, str]


def facts_key(mail: MailMessage) -> FactsKey:
    """Return the key under which ``mail``'s facts are kept."""
    return mail.item_id, mail.content_hash
