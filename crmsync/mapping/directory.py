"""A snapshot of the CRM that matchers read: plain data, built by the CRM layer.

Matching reads many addresses per mail; a snapshot (or a lazily filled mapping the CRM layer
provides) keeps mapping free of queries and makes matching a pure function of its inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from crmsync.mapping.addresses import canonical_domain, domain_of, normalize_address
from crmsync.mapping.freemail import is_free_mail_domain

__all__ = ["AccountEntry", "ContactEntry", "Directory", "OpportunityEntry"]


@dataclass(frozen=True, slots=True)
class ContactEntry:
    """A CRM contact, as matching needs it."""

    id: int
    external_id: str
    name: str
    account_id: int | None


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """A CRM account (a customer company), as matching needs it."""

    id: int
    external_id: str
    name: str


@dataclass(frozen=True, slots=True)
class OpportunityEntry:
    """A CRM opportunity, as :mod:`crmsync.mapping.opportunities` needs it."""

    id: int
    external_id: str
    name: str
    account_id: int | None
    contact_ids: frozenset[int]
    is_open: bool


@dataclass(frozen=True)
class Directory:
    """What the CRM knows that decides how a mail is matched.

    Keys must be normalized the way this package normalizes: ``contacts_by_address`` by
    :func:`~crmsync.mapping.addresses.normalize_address` (one entry per address of a
    contact), ``accounts_by_domain`` by :func:`~crmsync.mapping.addresses.canonical_domain`.
    ``internal_domains`` is normalized on construction.

    :param internal_domains: our own domains; their subdomains are internal too.
    :param contacts_by_address: every address of every contact.
    :param accounts_by_id: accounts, for a contact's ``account_id``.
    :param accounts_by_domain: the domains each account owns.
    :param opportunities: open and closed opportunities.
    :param cases_by_number: for case tokens in subjects.
    """

    internal_domains: frozenset[str]
    contacts_by_address: Mapping[str, ContactEntry]
    accounts_by_id: Mapping[int, AccountEntry]
    accounts_by_domain: Mapping[str, AccountEntry]
    opportunities: tuple[OpportunityEntry, ...] = ()
    #: open and closed case numbers (upper-case, ``CASE-000042``) → case id
    cases_by_number: Mapping[str, int] = field(default_factory=dict)
    # Indexes built once per snapshot: matching asks them for every mail, and scanning
    # every opportunity per mail made matching the slowest stage of a large backfill.
    _opportunities_by_external_id: dict[str, OpportunityEntry] = field(
        init=False, repr=False, compare=False
    )
    _open_opportunities_by_account: dict[int, tuple[OpportunityEntry, ...]] = field(
        init=False, repr=False, compare=False
    )
    _opportunities_by_id: dict[int, OpportunityEntry] = field(
        init=False, repr=False, compare=False
    )
    #: address → is_internal, for the addresses seen so far (the same people write all
    #: through a mailbox); cleared when it holds :data:`_MEMO_SIZE` entries
    _internal_memo: dict[str, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        normalized = frozenset(_clean_domain(domain) for domain in self.internal_domains)
        object.__setattr__(self, "internal_domains", normalized - {""})
        by_external: dict[str, OpportunityEntry] = {}
        open_by_account: dict[int, list[OpportunityEntry]] = {}
        for opportunity in self.opportunities:
            by_external.setdefault(opportunity.external_id.lower(), opportunity)
            if opportunity.is_open and opportunity.account_id is not None:
                open_by_account.setdefault(opportunity.account_id, []).append(opportunity)
        object.__setattr__(self, "_opportunities_by_external_id", by_external)
        object.__setattr__(self, "_opportunities_by_id", {o.id: o for o in self.opportunities})
        object.__setattr__(self, "_internal_memo", {})
        object.__setattr__(
            self,
            "_open_opportunities_by_account",
            {account: tuple(found) for account, found in open_by_account.items()},
        )

    @classmethod
    def empty(cls, internal_domains: Iterable[str] = ()) -> Directory:
        """Return a directory that knows only our own domains (a CRM with no records yet)."""
        return cls(frozenset(internal_domains), {}, {}, {})

    def is_internal(self, address: str) -> bool:
        """Return whether ``address`` is at one of our domains or a subdomain of one."""
        memo = self._internal_memo
        known = memo.get(address)
        if known is None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            domain = domain_of(address)
            known = memo[address] = any(_is_within(domain, own) for own in self.internal_domains)
        return known

    def account_for_domain(self, domain: str) -> AccountEntry | None:
        """Return the account that owns ``domain`` or the nearest domain above it.

        "eu.acme.com" finds the account of "acme.com". Free-mail domains never identify an
        account, even when an account lists one (someone typed the contact's gmail.com
        domain into the account): thousands of unrelated people share them.
        """
        candidate = _clean_domain(domain)
        if is_free_mail_domain(candidate):
            return None
        while "." in candidate:
            account = self.accounts_by_domain.get(candidate)
            if account is not None:
                return account
            candidate = candidate.partition(".")[2]
        return None

    def opportunity_by_external_id(self, external_id: str) -> OpportunityEntry | None:
        """Return the opportunity whose external id is ``external_id`` (any case), if any."""
        return self._opportunities_by_external_id.get(external_id.strip().lower())

    def opportunity_by_id(self, opportunity_id: int) -> OpportunityEntry | None:
        """Return the opportunity with this CRM id, if any."""
        return self._opportunities_by_id.get(opportunity_id)

    def open_opportunities_of(self, account_id: int) -> tuple[OpportunityEntry, ...]:
        """Return the open opportunities of one account, in directory order."""
        return self._open_opportunities_by_account.get(account_id, ())

    def contact_for(self, address: str) -> ContactEntry | None:
        """Return the contact with ``address`` (any form; it is normalized), if any."""
        key = normalize_address(address)
        return None if key is None else self.contacts_by_address.get(key)


#: most addresses :meth:`Directory.is_internal` remembers
_MEMO_SIZE = 65536


def _clean_domain(domain: str) -> str:
    """Return ``domain`` in its canonical form (lower-cased when it is none: never matches)."""
    return canonical_domain(domain) or domain.strip().strip(".").lower()


def _is_within(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)
