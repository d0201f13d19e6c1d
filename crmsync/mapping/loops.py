"""Loop protection for support mailboxes: who must never get an automatic reply, and when.

RFC 3834 section 2 asks responders not to answer automatically generated mail, and
section 3.1 to mark their own replies; Microsoft's ``X-Auto-Response-Suppress`` and the
``Precedence``/``List-Id`` conventions say the same for Exchange and mailing lists.
Delivery status notifications (RFC 3464) and null senders are bounces. Everything
here reads headers it is handed and counts it is given: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crmsync.mapping.addresses import decode_header_text, parse_address_list
from crmsync.mapping.subjects import normalize_subject

__all__ = [
    "AckLimits",
    "SenderKind",
    "ack_refusal",
    "arrived_before_connection",
    "stale_refusal",
    "classify_sender",
    "is_burst",
    "mail_fingerprint",
]

#: local parts that never read replies (compared without dots, dashes and underscores)
NO_REPLY_LOCAL_PARTS = frozenset({
    "noreply", "donotreply", "donotrespond", "noresponse", "nomail", "noreplies",
    "bounce", "bounces", "mailerdaemon", "postmaster", "notifications", "notification",
})
_BOUNCE_SENDERS = frozenset({"mailerdaemon", "postmaster"})
_NO_REPLY_PREFIXES = ("noreply", "donotreply", "bounce")
_LOCAL_NOISE = re.compile(r"[.\-_+]")
_DSN_TYPES = ("multipart/report", "message/delivery-status")
#: subjects autoresponders use when they set no RFC 3834 header at all
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheit"
    r"|r[ée]ponse automatique|respuesta autom[áa]tica|自动回复|自動応答|不在)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class SenderKind:
    """What kind of sender wrote a mail, as far as automatic replies go.

    :param kind: ``human``, ``auto-reply``, ``bounce``, ``list``, ``no-reply`` or ``own``.
    :param reason: the header or address that decided it, for people.
    """

    kind: str
    reason: str = ""

    @property
    def is_human(self) -> bool:
        return self.kind == "human"


@dataclass(frozen=True, slots=True)
class AckLimits:
    """How many acknowledgements one sender may get: per rolling hour and per day."""

    per_hour: int = 1
    per_day: int = 3


def classify_sender(
    headers: Mapping[str, str], is_internal: Callable[[str], bool]
) -> SenderKind:
    """Decide whether a mail was written by a person who may get an automatic reply.

    The checks run from the most certain to the least, one comment each.

    :param headers: lower-case field name → raw value (``MailMessage.headers``).
    :param is_internal: whether an address is one of the organization's own.
    """
    sender = _sender(headers)
    local = _LOCAL_NOISE.sub("", sender.partition("@")[0].lower())
    return_path = headers.get("return-path")
    content_type = (headers.get("content-type") or "").lower()
    # A null reverse path (RFC 5321 4.5.5) or a daemon sender: a bounce.
    if return_path is not None and return_path.strip() in ("<>", ""):
        return SenderKind("bounce", "null Return-Path")
    if local in _BOUNCE_SENDERS:
        return SenderKind("bounce", f"sender {sender}")
    # A delivery status report (RFC 3464), whoever sent it.
    if any(content_type.startswith(kind) for kind in _DSN_TYPES):
        return SenderKind("bounce", "delivery status report")
    if not sender:
        return SenderKind("bounce", "no sender address")
    # Our own mail (notifications, a colleague, a second crmsync of ours).
    if is_internal(sender):
        return SenderKind("own", f"{sender} is one of our addresses")
    return _automatic(headers) or _no_reply(sender, local) or SenderKind("human")


def _automatic(headers: Mapping[str, str]) -> SenderKind | None:
    auto_submitted = (headers.get("auto-submitted") or "").strip().lower()
    # RFC 3834: anything but "no" is machine-made.
    if auto_submitted and not auto_submitted.startswith("no"):
        return SenderKind("auto-reply", f"Auto-Submitted: {auto_submitted}")
    # Exchange asks for no automatic reply; ours sets it too (a second copy of us).
    if headers.get("x-auto-response-suppress", "").strip():
        return SenderKind("auto-reply", "X-Auto-Response-Suppress")
    if headers.get("x-autoreply") or headers.get("x-autorespond"):
        return SenderKind("auto-reply", "X-Autoreply")
    precedence = (headers.get("precedence") or "").strip().lower()
    # Mailing lists and bulk senders (RFC 2076, RFC 2919).
    if precedence in ("bulk", "junk", "list"):
        return SenderKind("list", f"Precedence: {precedence}")
    if headers.get("list-id") or headers.get("list-unsubscribe"):
        return SenderKind("list", "List-Id")
    if precedence == "auto_reply":
        return SenderKind("auto-reply", "Precedence: auto_reply")
    # Autoresponders that set no header at all still say so in the subject.
    if _AUTO_SUBJECT.match(decode_header_text(headers.get("subject"))):
        return SenderKind("auto-reply", "auto-reply subject")
    return None


def _no_reply(sender: str, local: str) -> SenderKind | None:
    # Addresses that nobody reads: answering them is noise at best, a loop at worst.
    if local in NO_REPLY_LOCAL_PARTS or local.startswith(_NO_REPLY_PREFIXES):
        return SenderKind("no-reply", f"{sender} does not read replies")
    return None


def _sender(headers: Mapping[str, str]) -> str:
    for field in ("from", "sender"):
        addresses = parse_address_list(headers.get(field))
        if addresses:
            return addresses[0].address
    return ""


def ack_refusal(kind: SenderKind, sent_last_hour: int, sent_last_day: int,
                limits: AckLimits) -> str:
    """Return why no acknowledgement may go to this sender, or ``""`` when one may.

    :param sent_last_hour: acknowledgements queued or sent to the sender for mail that
        arrived within an hour of this one (by arrival, so a backfill counts each request
        in its own hour, not in the hour the sync runs).
    :param sent_last_day: the same within 24 hours.
    """
    if not kind.is_human:
        return f"{kind.kind}: {kind.reason}"
    if sent_last_hour >= limits.per_hour:
        # Two autoresponders that set no header end here, within three exchanges.
        return (f"rate limit: {sent_last_hour} acknowledgement(s) to this sender for mail "
                "within an hour of this one")
    if sent_last_day >= limits.per_day:
        return (f"rate limit: {sent_last_day} acknowledgement(s) to this sender for mail "
                "within 24 hours of this one")
    return ""


#: how much earlier than the mailbox's connection a mail may have arrived and still be
#: acknowledged: the mail server's clock and ours differ, and INTERNALDATE has seconds
CONNECT_GRACE = timedelta(minutes=5)


def arrived_before_connection(arrived: datetime, connected: datetime | None) -> bool:
    """Whether mail is the mailbox's history: it arrived before the mailbox was connected."""
    return connected is not None and arrived < connected - CONNECT_GRACE


def stale_refusal(arrived: datetime, connected: datetime | None, now: datetime,
                  max_age: timedelta | None) -> str:
    """Return why mail that arrived at ``arrived`` is too old to acknowledge, or ``""``.

    Connecting a mailbox with a month of history must not answer a month of mail: the
    customer had that answer (or none) long ago. Its cases open silently.

    :param connected: when the support mailbox was connected (``None``: unknown).
    :param max_age: the oldest mail still acknowledged; ``None``: no limit.
    """
    stamp = arrived.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    # Mail from before the connection is history being backfilled.
    if arrived_before_connection(arrived, connected):
        return f"old mail: arrived {stamp}, before the mailbox was connected"
    # Mail that waited long (crmsync was stopped, the mailbox paused): too late for "we got it".
    if max_age is not None and arrived < now - max_age:
        hours = max_age.total_seconds() / 3600
        return f"old mail: arrived {stamp}, more than {hours:g} hours ago"
    return ""


def mail_fingerprint(sender: str, subject: str, body: str | None) -> str:
    """Return a key that near-identical mails from one sender share.

    Case, whitespace and reply/forward prefixes are ignored, and only the first 2,000
    characters of the body count, so a re-send with a changed footer still matches.
    """
    text = " ".join((body or "").split()).casefold()[:2000]
    material = "\0".join((sender.lower(), normalize_subject(subject).casefold(), text))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def is_burst(similar_in_window: int, threshold: int = 15) -> bool:
    """Whether this mail completes a burst: ``threshold`` near-identical mails in the window.

    Salesforce Email-to-Case trips at 15 identical mails in 60 seconds; the caller
    counts the earlier ones (this one excluded) over its window.
    """
    return similar_in_window + 1 >= threshold
