"""Pure linking rules: tables and Hypothesis properties (no fixtures, no servers)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crmsync.mapping.directory import AccountEntry, Directory, OpportunityEntry
from crmsync.mapping.evidence import ThreadLink, gather_links
from crmsync.mapping.opportunities import choose_opportunity, subject_tokens
from crmsync.mapping.policy import CapturePolicy
from crmsync.mapping.privacy import address_hash, privacy_verdict
from crmsync.mapping.records import Participant

ACME, GLOBEX = AccountEntry(1, "acc-acme", "Acme"), AccountEntry(2, "acc-globex", "Globex")


def _directory(opportunities: list[OpportunityEntry]) -> Directory:
    return Directory(frozenset({"ours.example"}), {}, {1: ACME, 2: GLOBEX},
                     {"acme.com": ACME, "globex.com": GLOBEX}, tuple(opportunities))


opportunity = st.builds(
    OpportunityEntry, id=st.integers(1, 20), external_id=st.just("o"), name=st.just("deal"),
    account_id=st.sampled_from([1, 2, None]),
    contact_ids=st.frozensets(st.integers(1, 5), max_size=3), is_open=st.booleans(),
)


@given(st.lists(opportunity, max_size=6, unique_by=lambda o: o.id),
       st.sets(st.sampled_from([1, 2])), st.sets(st.integers(1, 5)))
def test_an_opportunity_is_linked_only_when_clearly_meant(opps, accounts, contacts) -> None:
    # At most one link, never both a link and suggestions, never a closed or foreign deal.
    links, suggestions = choose_opportunity(accounts, contacts, _directory(opps))
    assert len(links) <= 1 and not (links and suggestions)
    by_id = {o.id: o for o in opps}
    for link in links:
        chosen = by_id[link.target_id]
        assert chosen.is_open and chosen.account_id in accounts
    assert [s.rank for s in suggestions] == list(range(1, len(suggestions) + 1))


@given(st.text(max_size=80))
def test_subject_tokens_only_name_what_exists(subject: str) -> None:
    # Any subject text links at most the opportunities and cases the CRM has.
    directory = _directory([OpportunityEntry(7, "opp-7", "Deal", 1, frozenset(), True)])
    for link in subject_tokens(subject + " [OPP-7]", directory):
        assert (link.kind, link.target_id) == ("opportunity", 7)


@given(st.emails())
def test_suppression_hash_ignores_case(address: str) -> None:
    # An erased address stays erased whatever case the next mail writes it in.
    policy = CapturePolicy(suppressed_hashes=frozenset({address_hash(address)}))
    assert privacy_verdict([address.upper().lower()], {}, policy) is not None
    assert address_hash(address) == address_hash(address.upper())


def test_blocked_domains_cover_subdomains_and_sensitivity_is_refused() -> None:
    # Blocking a domain blocks its subdomains; a private item is refused by default.
    policy = CapturePolicy(blocked_domains=frozenset({"lawfirm.example"}))
    assert privacy_verdict(["a@eu.lawfirm.example"], {}, policy)
    assert privacy_verdict(["a@notlawfirm.example"], {}, policy) is None
    assert privacy_verdict(["a@x.example"], {"sensitivity": "Company-Confidential"}, policy)
    assert privacy_verdict(["a@x.example"], {"sensitivity": "Private"},
                           CapturePolicy(capture_sensitive=True)) is None


def _people(address: str) -> list[Participant]:
    return [Participant(address, "", "from", None, False),
            Participant("me@ours.example", "", "to", None, True)]


def test_a_conversation_never_carries_links_to_another_customer() -> None:
    # A Globex reply in an Acme thread keeps Globex; the Acme deal is not inherited.
    deal = OpportunityEntry(9, "opp-9", "Acme deal", 1, frozenset(), True)
    directory = _directory([deal])
    thread = [ThreadLink("opportunity", 9, True), ThreadLink("account", 1, False)]
    globex = gather_links(_people("x@globex.com"), "Re: review", directory, thread)
    assert {(k.kind, k.target_id) for k in globex.links} == {("account", 2)}
    # An unknown sender in the same thread inherits the person's deal choice.
    stranger = gather_links(_people("x@gmail.com"), "Re: review", directory, thread)
    assert ("opportunity", 9) in {(k.kind, k.target_id) for k in stranger.links}
    # Joined only by a provider conversation id (subject-based): nothing is inherited.
    weak = [ThreadLink("opportunity", 9, False, via_headers=False)]
    assert gather_links(_people("x@gmail.com"), "Re: review", directory, weak).links == ()
