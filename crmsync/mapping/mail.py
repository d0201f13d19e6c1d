"""The decision for one mail: capture it, skip it or quarantine it, and with what links.

This is the one function the sync engine calls per mail; everything it needs is in its
arguments (the record, a CRM snapshot, the time), so a re-sync decides exactly as the first
sync did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from crmsync.connectors.base import MailMessage
from crmsync.mapping.addresses import Address, parse_address_list
from crmsync.mapping.dates import plausible_occurred_at
from crmsync.mapping.directory import Directory
from crmsync.mapping.evidence import LinkEvidence, ThreadLink, gather_links
from crmsync.mapping.facts import MailFacts, mail_facts
from crmsync.mapping.opportunities import Suggestion
from crmsync.mapping.policy import DEFAULT_POLICY, CapturePolicy
from crmsync.mapping.privacy import privacy_verdict, sensitivity_of
from crmsync.mapping.records import Participant, ProposedLink

__all__ = [
    "MailDecision",
    "Participant",
    "ProposedLink",
    "ThreadLink",
    "decide_mail",
    "thread_lookup_keys",
    "thread_keys",
]

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
    :param links: the links to make (see :mod:`crmsync.mapping.evidence`); empty unless
        captured.
    :param suggestions: ranked opportunities a rep may pick when none was clearly meant.
    :param sensitivity: ``private`` (marked private, personal or confidential: captured
        only when the organization allows it, then seen only by its mailboxes' owners) or
        ``normal``.
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
    suggestions: tuple[Suggestion, ...] = ()
    sensitivity: str = "normal"


def decide_mail(
    message: MailMessage,
    directory: Directory,
    *,
    now: datetime,
    policy: CapturePolicy = DEFAULT_POLICY,
    thread: Sequence[ThreadLink] = (),
    facts: MailFacts | None = None,
) -> MailDecision:
    """Decide whether and how ``message`` enters the CRM.

    The rules, in order:

    - no parsable sender (From, else Sender): quarantine, "no sender address" (the raw
      mail is kept for a person to look at);
    - every participant internal: skip, "internal-only mail" (privacy: colleagues' mail
      never reaches the CRM);
    - a privacy rule forbids it (sensitivity, erased or opted-out person, blocked address
      or domain, the owner's do-not-capture list): skip, with that rule's reason;
    - no link from the subject, the conversation or the participants: skip, unless the
      policy captures unmatched external mail (support mailboxes);
    - otherwise capture, with the links that made it relevant.

    :param message: the record a connector produced.
    :param directory: the CRM snapshot to match against.
    :param now: the caller's clock, for Date sanity checks and as the last-resort time.
    :param policy: the mailbox's capture settings and the organization's privacy rules.
    :param thread: links held by earlier mails of its conversation (the store looks them
        up by :func:`thread_lookup_keys`).
    :param facts: ``mail_facts(message)`` when the caller has it already (computed
        here otherwise).
    """
    headers = message.headers
    facts = facts or mail_facts(message)
    message_id = facts.message_id
    participants = _participants(headers, directory)
    senders = [participant for participant in participants if participant.role == "from"]
    context = _Context(directory, policy, thread, facts.subject, headers)
    action, reason, evidence = _judge(senders, participants, context)
    return MailDecision(
        action=action,
        reason=reason,
        dedupe_key=f"mid:{message_id}" if message_id else f"hash:{message.content_hash}",
        message_id=message_id,
        conversation=facts.conversation,
        subject=facts.subject,
        occurred_at=plausible_occurred_at(facts.date, message.received_at, now),
        direction=_direction(senders, participants),
        participants=participants,
        links=evidence.links,
        suggestions=evidence.suggestions,
        sensitivity=sensitivity_of(headers),
    )


@dataclass(frozen=True, slots=True)
class _Context:
    directory: Directory
    policy: CapturePolicy
    thread: Sequence[ThreadLink]
    subject: str
    headers: Mapping[str, str]


_NOTHING = LinkEvidence((), ())


def _judge(
    senders: list[Participant], participants: tuple[Participant, ...], context: _Context
) -> tuple[str, str, LinkEvidence]:
    # One comment per rule, as the docstring of decide_mail lists them.
    if not senders:
        # Malformed: we cannot say who wrote it, so no rule can be trusted.
        return "quarantine", QUARANTINE_NO_SENDER, _NOTHING
    if all(participant.is_internal for participant in participants):
        # Privacy: mail among colleagues is never captured.
        return "skip", SKIP_INTERNAL, _NOTHING
    addresses = [participant.address for participant in participants]
    refused = privacy_verdict(addresses, context.headers, context.policy)
    if refused is not None:
        # Privacy rules come before any link: a forbidden mail is not even matched.
        return "skip", refused, _NOTHING
    evidence = gather_links(participants, context.subject, context.directory, context.thread)
    if not evidence.links and not context.policy.capture_unmatched_external:
        # Nobody the CRM knows: capturing it would fill the CRM with noise.
        return "skip", SKIP_UNMATCHED, _NOTHING
    return "capture", "", evidence


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


def thread_lookup_keys(message: MailMessage) -> tuple[str, ...]:
    """Return the keys under which earlier mails of ``message``'s conversation are found.

    The ids it replies to or references (their Message-IDs) and ``conv:<id>`` for the
    provider's conversation id. The subject is never a key. (``mail_facts(message)``
    holds them, with the rest a decision reads.)
    """
    return mail_facts(message).lookup_keys


def thread_keys(message: MailMessage) -> tuple[str, ...]:
    """Return the keys under which later mails will find ``message``: its own ids."""
    return mail_facts(message).own_keys
