"""What an organization (or one mailbox) lets crmsync capture: data, not code.

The privacy defaults are the safe ones: internal-only mail and items marked private,
personal or confidential are never captured; nothing is blocked until an admin says so.
The CRM layer fills the lists from its rules tables (:mod:`crmsync.crm.privacy`);
mapping only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class CapturePolicy:
    """The capture rule's settings for one mailbox.

    :param capture_unmatched_external: capture external mail even when no participant
        is in the CRM. Support mailboxes set it: every customer mail may open a case.
    :param capture_sensitive: capture items marked private, personal or confidential
        (``Sensitivity`` header, Graph/EWS sensitivity, iCalendar ``CLASS``). Off by default.
    :param store_body: keep the text body; off means metadata only.
    :param blocked_addresses: normalized addresses never captured.
    :param blocked_domains: domains (and their subdomains) never captured.
    :param suppressed_hashes: :func:`~crmsync.mapping.privacy.address_hash` of every
        address that was erased or opted out: a mail naming one is never captured.
    :param do_not_capture: the mailbox owner's own list: addresses or domains.
    :param auto_create_contacts: create a contact for an unknown external participant whose
        domain belongs to an account (off by default).
    """

    capture_unmatched_external: bool = False
    capture_sensitive: bool = False
    store_body: bool = True
    blocked_addresses: frozenset[str] = field(default_factory=frozenset)
    blocked_domains: frozenset[str] = field(default_factory=frozenset)
    suppressed_hashes: frozenset[str] = field(default_factory=frozenset)
    do_not_capture: frozenset[str] = field(default_factory=frozenset)
    auto_create_contacts: bool = False

    def with_rules(self, rules: CapturePolicy) -> CapturePolicy:
        """Return this mailbox policy with the organization's privacy ``rules`` laid over it.

        The purpose-specific flag (``capture_unmatched_external``) stays this policy's; every
        privacy field comes from ``rules``.
        """
        return replace(rules, capture_unmatched_external=self.capture_unmatched_external)


DEFAULT_POLICY = CapturePolicy()
SUPPORT_POLICY = CapturePolicy(capture_unmatched_external=True)
