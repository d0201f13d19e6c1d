"""A mail's facts, computed ahead (by the fetch process), decide exactly as parsing in place.

The engine hands ``decide_mail`` the facts the fetch process computed; a difference
would make a mail's links depend on which process parsed it.
"""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.connectors.base import MailMessage
from crmsync.connectors.mime import parse_message
from crmsync.mapping import decide_mail
from crmsync.mapping.facts import mail_facts
from crmsync.mapping.mail import thread_keys, thread_lookup_keys
from tests.connectors.test_imap_response import corpus_messages
from tests.mapping.directories import DIRECTORY
from tests.mapping.strategies import header_text

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LABELLED = Path(__file__).resolve().parent.parent / "data" / "labelled" / "mailbox.mbox"


def _records() -> list[MailMessage]:
    raws = [raw for _name, raw in corpus_messages()]
    box = mailbox.mbox(str(LABELLED), create=False)
    try:
        raws += [message.as_bytes() for message in box]
    finally:
        box.close()
    records = [parse_message(raw, item_id=f"x#{n}", folder="INBOX") for n, raw in enumerate(raws)]
    return [r for r in records if isinstance(r, MailMessage)]


def _same(mail: MailMessage) -> None:
    facts = mail_facts(mail)
    assert facts.lookup_keys == thread_lookup_keys(mail)
    assert facts.own_keys == thread_keys(mail)
    assert decide_mail(mail, DIRECTORY, now=NOW, facts=facts) == \
        decide_mail(mail, DIRECTORY, now=NOW)


def test_facts_decide_as_parsing_does_on_real_mail() -> None:
    records = _records()
    assert len(records) > 500
    for mail in records:
        _same(mail)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["message-id", "in-reply-to", "references", "subject", "date", "from",
                     "to", "cc"]),
    header_text, max_size=8),
    st.one_of(st.none(), st.text(max_size=20)))
def test_facts_decide_as_parsing_does_on_odd_headers(headers: dict[str, str],
                                                     conversation_id: str | None) -> None:
    _same(MailMessage(item_id="1:1", folder="INBOX", headers=headers, body_text=None,
                      attachments=(), size=0, received_at=NOW, flags=(), content_hash="h",
                      conversation_id=conversation_id))
