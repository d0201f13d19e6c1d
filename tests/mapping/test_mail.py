from datetime import UTC, datetime

import pytest

from crmsync.connectors.base import MailMessage
from crmsync.mapping.directory import Directory
from crmsync.mapping.mail import MailDecision, decide_mail
from crmsync.mapping.records import Participant, ProposedLink
from tests.mapping.directories import DIRECTORY

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
RECEIVED = datetime(2024, 5, 31, 9, 0, tzinfo=UTC)


def _mail(conversation_id: str | None = None, **headers: str) -> MailMessage:
    return MailMessage(
        item_id="1:1",
        folder="INBOX",
        headers={name.replace("_", "-"): value for name, value in headers.items()},
        body_text="hello",
        attachments=(),
        size=100,
        received_at=RECEIVED,
        flags=(),
        content_hash="c0ffee",
        conversation_id=conversation_id,
    )


def _decide(**headers: str) -> MailDecision:
    return decide_mail(_mail(**headers), DIRECTORY, now=NOW)


@pytest.mark.parametrize(
    ("headers", "action", "reason", "direction"),
    [
        # a customer contact writes in
        ({"from": "Ana Ruiz <ana@acme.com>", "to": "me@ours.example"}, "capture", "", "inbound"),
        # we write to a customer
        ({"from": "me@ours.example", "to": "ana@acme.com"}, "capture", "", "outbound"),
        # a stranger at a customer's subdomain, in Cc
        (
            {"from": "me@ours.example", "to": "x@ours.example", "cc": "bob@eu.acme.com"},
            "capture",
            "",
            "outbound",
        ),
        # a contact only in Bcc still makes it relevant
        ({"from": "me@ours.example", "bcc": "li@globex.cn"}, "capture", "", "outbound"),
        # colleagues among themselves, subdomains included
        (
            {"from": "me@ours.example", "to": "you@eu.ours.example, x@ours-corp.example"},
            "skip",
            "internal-only mail",
            "internal",
        ),
        # a mail with only a sender, an internal one
        ({"from": "me@ours.example"}, "skip", "internal-only mail", "internal"),
        # a newsletter from nobody the CRM knows
        (
            {"from": "news@vendor.example", "to": "me@ours.example"},
            "skip",
            "no CRM contact or account among participants",
            "inbound",
        ),
        # a stranger on gmail.com, although an account lists gmail.com
        (
            {"from": "stranger@gmail.com", "to": "me@ours.example"},
            "skip",
            "no CRM contact or account among participants",
            "inbound",
        ),
        # no From: Sender stands in
        ({"sender": "ana@acme.com", "to": "me@ours.example"}, "capture", "", "inbound"),
        # no sender address at all: malformed
        ({"to": "me@ours.example"}, "quarantine", "no sender address", "internal"),
        (
            {"from": "undisclosed:;", "to": "ana@acme.com"},
            "quarantine",
            "no sender address",
            "inbound",
        ),
        ({"from": "<>", "to": "ana@acme.com"}, "quarantine", "no sender address", "inbound"),
    ],
)
def test_capture_skip_quarantine(
    headers: dict[str, str], action: str, reason: str, direction: str
) -> None:
    # The capture rule: an external contact or account participant, never internal-only mail.
    decision = _decide(**headers)
    assert (decision.action, decision.reason, decision.direction) == (action, reason, direction)
    assert bool(decision.links) is (action == "capture")


def test_captured_mail_carries_participants_and_links() -> None:
    # Participants list each (role, address) once; links explain themselves.
    decision = _decide(
        **{
            "from": "=?utf-8?q?Ana_Ruiz_N=C3=BA=C3=B1ez?= <Ana@Acme.com>",
            "to": "Me <me@ours.example>, ana@acme.com",
            "cc": "me@ours.example, ME@ours.example",
            "subject": "=?gb2312?B?u9i4tKO6sai827Wl?=",
        }
    )
    assert decision.participants == (
        Participant("ana@acme.com", "Ana Ruiz Núñez", "from", 1, False),
        Participant("me@ours.example", "Me", "to", None, True),
        Participant("ana@acme.com", "", "to", 1, False),
        Participant("me@ours.example", "", "cc", None, True),
    )
    assert decision.links == (
        ProposedLink("contact", 1, "sender is contact Ana Ruiz", 1.0),
        ProposedLink("account", 10, "contact Ana Ruiz belongs to Acme", 0.95),
    )
    assert decision.subject == "回复：报价单"


@pytest.mark.parametrize(
    ("headers", "conversation_id", "dedupe_key", "message_id", "conversation"),
    [
        # a root mail: keyed and threaded by its Message-ID
        ({"message_id": " <Root@Acme.com> "}, None, "mid:<Root@Acme.com>", "<Root@Acme.com>",
         "<Root@Acme.com>"),
        # a reply: threaded on the root of its References
        (
            {
                "message_id": "<c@x>",
                "in_reply_to": "<b@x>",
                "references": "<a@x>\r\n <b@x>",
            },
            "CONV1",
            "mid:<c@x>",
            "<c@x>",
            "<a@x>",
        ),
        # a reply without References
        ({"message_id": "<b@x>", "in_reply_to": "<a@x>"}, None, "mid:<b@x>", "<b@x>", "<a@x>"),
        # no Message-ID: content hash, provider conversation
        ({}, "AAQkAGI2", "hash:c0ffee", None, "conv:AAQkAGI2"),
        # nothing at all: content hash for both
        ({"message_id": "<>"}, None, "hash:c0ffee", None, "hash:c0ffee"),
    ],
)  # fmt: skip
def test_dedupe_key_and_conversation(
    headers: dict[str, str],
    conversation_id: str | None,
    dedupe_key: str,
    message_id: str | None,
    conversation: str,
) -> None:
    # One key per mail across mailboxes; one conversation per thread.
    message = _mail(conversation_id, **{"from": "ana@acme.com", **headers})
    decision = decide_mail(message, DIRECTORY, now=NOW)
    assert (decision.dedupe_key, decision.message_id, decision.conversation) == (
        dedupe_key,
        message_id,
        conversation,
    )


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Fri, 31 May 2024 10:00:00 +0200", datetime(2024, 5, 31, 8, 0, tzinfo=UTC)),
        ("Wed, 1 Jan 2031 00:00:00 +0000", RECEIVED),
        ("garbage", RECEIVED),
    ],
)
def test_occurred_at(date: str, expected: datetime) -> None:
    # The Date header when plausible, else when the mail system received it.
    assert _decide(**{"from": "ana@acme.com", "date": date}).occurred_at == expected


def test_same_mail_same_decision() -> None:
    # Deciding twice (a re-sync) gives the identical decision.
    headers = {"from": "ana@acme.com", "to": "me@ours.example", "message_id": "<a@x>"}
    assert _decide(**headers) == _decide(**headers)


def test_empty_directory_skips_everything_external() -> None:
    # A CRM with no records captures nothing, and says why.
    decision = decide_mail(_mail(**{"from": "ana@acme.com"}), Directory.empty(), now=NOW)
    assert decision.reason == "no CRM contact or account among participants"
