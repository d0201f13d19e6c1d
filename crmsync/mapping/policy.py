"""What an organization (or one mailbox) lets crmsync capture: data, not code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CapturePolicy:
    """The capture rule's settings for one mailbox.

    :param capture_unmatched_external: capture external mail even when no participant
        is in the CRM. Support mailboxes set it: every customer mail may open a case.
    """

    capture_unmatched_external: bool = False


DEFAULT_POLICY = CapturePolicy()
SUPPORT_POLICY = CapturePolicy(capture_unmatched_external=True)
