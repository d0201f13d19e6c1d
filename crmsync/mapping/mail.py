"""The decision for one mail: capture it, skip it or quarantine it, and with what links.

This is the one function the sync engine calls per mail; everything it needs is in its
arguments (the record, a CRM snapshot, the time), so a re-sync decides exactly as the first
sync did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from crmsync.connectors.base import MailMessage
from crmsync.mapping.addresses import Address, decode_header_text, parse_address_list
from crmsync.mapping.dates import choose_occurred_at
from crmsync.mapping.directory import Directory
from crmsync.mapping.matchers import match_participants
from crmsync.mapping.policy import DEFAULT_POLICY, CapturePolicy
from crmsync.mapping.records import Participant, ProposedLink
from crmsync.mapping.threads import conversation_key, parse_message_ids

__all__ = ["MailDecision", "Participant", "ProposedLink", "decide_mail"]

SKIP_INTERNAL = "internal-only mail"
SKIP_UNMATCHED = "no CRM contact or account among participants"
QUARANTINE_NO_SENDER = "no sender address"


@dataclass(frozen=True, slots=True)
class MailDecision:
    """What to do with one mail, and everything the store needs to do it.

    :param action: ``"capture"``, ``"skip"`` or ``"quarantine"``.
    :param reason: why it was skipped or quarantined; ``""`` when captured.
    :param dedupe_key: ``"mid:<id>"`` from the Message-ID, else ``"hash:<content_hash>"``:
        the key that makes one mail seen in five mailboxes one activity.
    :param message_id: the normalized Message-ID, if any.
    :param conversation: :func:`~crmsync.mapping.threads.conversation_key`, or
        ``"hash:<content_hash>"`` when nothing identifies the conversation.
    :param subject: the decoded subject, as written (markers kept).
    :param occurred_at: UTC; see :func:`~crmsync.mapping.dates.choose_occurred_at`.
    :param direction: ``"inbound"``, ``"outbound"`` (internal sender, some external
        recipient) or ``"internal"`` (everyone internal).
    :param participants: every (role, address) once, From first, then To, Cc, Bcc.
    :param links: the merged proposals of the matcher chain; empty unless captured.
    """

    action: str
    reason: str
    dedupe_key: str
    message_id: str | None
    conversation: str
    subject: str
    occurred_at: datetime
    direction: str
    participants: tuple[Participant, ...]
    links: tuple[ProposedLink, ...]


def decide_mail(
    message: MailMessage,
    directory: Directory,
    *,
    now: datetime,
    policy: CapturePolicy = DEFAULT_POLICY,
) -> MailDecision:
    """Decide whether and how ``message`` enters the CRM.

    The rules, in order:

    - no parsable sender (From, else Sender): quarantine, "no sender address" (the raw
      mail is kept for a person to look at);
    - every participant internal: skip, "internal-only mail" (privacy: colleagues' mail
      never reaches the CRM);
    - no external participant is a contact or at an account's domain: skip, unless the
      policy captures unmatched external mail (support mailboxes);
    - otherwise capture, with the links that made it relevant.

    :param message: the record a connector produced.
    :param directory: the CRM snapshot to match against.
    :param now: the caller's clock, for Date sanity checks and as the last-resort time.
    :param policy: the mailbox's capture settings.
    """
    headers = message.headers
    message_ids = parse_message_ids(headers.get("message-id"))
    message_id = message_ids[0] if message_ids else None
    participants = _participants(headers, directory)
    senders = [participant for participant in participants if participant.role == "from"]
    action, reason, links = _judge(senders, participants, directory, policy)
    return MailDecision(
        action=action,
        reason=reason,
        dedupe_key=f"mid:{message_id}" if message_id else f"hash:{message.content_hash}",
        message_id=message_id,
        conversation=_conversation(message, message_id),
        subject=decode_header_text(headers.get("subject")),
        occurred_at=choose_occurred_at(headers.get("date"), message.received_at, now),
        direction=_direction(senders, participants),
        participants=participants,
        links=links,
    )


def _judge(
    senders: list[Participant],
    participants: tuple[Participant, ...],
    directory: Directory,
    policy: CapturePolicy,
) -> tuple[str, str, tuple[ProposedLink, ...]]:
    # One comment per rule, as the docstring of decide_mail lists them.
    if not senders:
        # Malformed: we cannot say who wrote it, so no rule can be trusted.
        return "quarantine", QUARANTINE_NO_SENDER, ()
    if all(participant.is_internal for participant in participants):
        # Privacy: mail among colleagues is never captured.
        return "skip", SKIP_INTERNAL, ()
    links = tuple(match_participants(participants, directory))
    if not links and not policy.capture_unmatched_external:
        # Nobody the CRM knows: capturing it would fill the CRM with noise.
        return "skip", SKIP_UNMATCHED, ()
    return "capture", "", links


def _participants(headers: Mapping[str, str], directory: Directory) -> tuple[Participant, ...]:
    """List every (role, address) once; From falls back to Sender when it has no address."""
    senders = parse_address_list(headers.get("from")) or parse_address_list(headers.get("sender"))
    by_role: list[tuple[str, list[Address]]] = [("from", senders)]
    by_role += [(role, parse_address_list(headers.get(role))) for role in ("to", "cc", "bcc")]
    participants: dict[tuple[str, str], Participant] = {}
    for role, addresses in by_role:
        for address in addresses:
            contact = directory.contact_for(address.address)
            participants.setdefault(
                (role, address.address),
                Participant(
                    address=address.address,
                    name=address.name,
                    role=role,
                    contact_id=None if contact is None else contact.id,
                    is_internal=directory.is_internal(address.address),
                ),
            )
    return tuple(participants.values())


def _direction(senders: list[Participant], participants: tuple[Participant, ...]) -> str:
    if participants and all(participant.is_internal for participant in participants):
        return "internal"
    if senders and senders[0].is_internal:
        # An internal sender and, since not everyone is internal, some external recipient.
        return "outbound"
    return "inbound"


def _conversation(message: MailMessage, message_id: str | None) -> str:
    headers = message.headers
    key = conversation_key(
        message_id,
        parse_message_ids(headers.get("in-reply-to")),
        parse_message_ids(headers.get("references")),
        message.conversation_id,
    )
    return key or f"hash:{message.content_hash}"
