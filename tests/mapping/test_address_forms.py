"""Addresses as real mail writes them: each form links what the linking rules say, no more.

The rules in force: a header participant equal to a contact's address links the contact, an
account's domain (or a domain above the participant's) links the account, free-mail never
identifies an account, Reply-To and Sender never count, the display name never links.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmsync.connectors.base import MailMessage
from crmsync.mapping.addresses import canonical_domain, normalize_address
from crmsync.mapping.copies import CopyContext, merge_copy, union_participants
from crmsync.mapping.directory import (
    AccountEntry,
    ContactEntry,
    Directory,
    OpportunityEntry,
)
from crmsync.mapping.evidence import ThreadLink
from crmsync.mapping.links import HeldLink, Target
from crmsync.mapping.mail import MailDecision, decide_mail
from crmsync.mapping.policy import CapturePolicy
from crmsync.mapping.privacy import privacy_verdict

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ACME = AccountEntry(10, "acc-acme", "Acme")
BUCHER = AccountEntry(20, "acc-bucher", "Bücher")
CHEN = ContactEntry(1, "c-chen", "Chen Kim", ACME.id)
LEE = ContactEntry(2, "c-lee", "Lee Park", ACME.id)
HANS = ContactEntry(3, "c-hans", "Hans Weber", BUCHER.id)
RENEWAL = OpportunityEntry(100, "opp-renewal", "Renewal", ACME.id, frozenset({CHEN.id}), True)
FLEET = OpportunityEntry(101, "opp-fleet", "Fleet", ACME.id, frozenset({LEE.id}), True)


def _directory(crm_domain: str, internal: str = "xn--nrthwind-n4a.example") -> Directory:
    """The CRM as the CRM layer loads it: every key through the one normalization.

    :param crm_domain: how the CRM import spelled Bücher's domain (punycode or Unicode).
    :param internal: how the admin spelled our own domain.
    """
    contacts = {"chen.kim@acme.example": CHEN, "lee.park@acme.example": LEE,
                "chen.kim@gmail.com": CHEN, f"hans@{crm_domain}": HANS}
    return Directory(
        internal_domains=frozenset({internal}),
        contacts_by_address={normalize_address(a) or a: c for a, c in contacts.items()},
        accounts_by_id={ACME.id: ACME, BUCHER.id: BUCHER},
        accounts_by_domain={"acme.example": ACME, normalize_address(f"x@{crm_domain}")
                            .partition("@")[2]: BUCHER},  # type: ignore[union-attr]
        opportunities=(RENEWAL, FLEET),
    )


DIRECTORY = _directory("xn--bcher-kva.example")


def _mail(headers: dict[str, str], item_id: str = "1") -> MailMessage:
    return MailMessage(
        item_id=item_id, folder="INBOX", headers={"message-id": "<m1@x.example>", **headers},
        body_text="hi", attachments=(), size=10, received_at=NOW, flags=(),
        content_hash="h" + item_id,
    )


def _links(decision: MailDecision) -> set[tuple[str, int]]:
    return {(link.kind, link.target_id) for link in decision.links}


ME = "maria@nörthwind.example"


@pytest.mark.parametrize("crm_domain", ["xn--bcher-kva.example", "bücher.example",
                                        "XN--BCHER-KVA.EXAMPLE", "BÜCHER.example"])
@pytest.mark.parametrize("mail_address", ["hans@xn--bcher-kva.example", "hans@bücher.example",
                                          "Hans <HANS@XN--BCHER-KVA.EXAMPLE>",
                                          "=?utf-8?q?Hans?= <hans@BÜCHER.example>"])
def test_international_domains_meet_whichever_form_each_side_uses(
    crm_domain: str, mail_address: str
) -> None:
    # A CRM import in punycode or Unicode and mail in either form link the same contact.
    decision = decide_mail(_mail({"from": mail_address, "to": ME}), _directory(crm_domain),
                           now=NOW)
    assert decision.action == "capture"
    assert {("contact", HANS.id), ("account", BUCHER.id)} <= _links(decision)
    # a colleague of Hans at the same domain: the account by its domain
    other = decide_mail(_mail({"from": mail_address.replace("hans@", "eva@").replace(
        "HANS@", "EVA@"), "to": ME}), _directory(crm_domain), now=NOW)
    assert _links(other) == {("account", BUCHER.id)}


@pytest.mark.parametrize("internal", ["xn--nrthwind-n4a.example", "nörthwind.example",
                                      "NÖRTHWIND.EXAMPLE."])
@pytest.mark.parametrize("colleague", ["bob@xn--nrthwind-n4a.example", "bob@nörthwind.example"])
def test_our_own_international_domain_is_internal_in_either_form(
    internal: str, colleague: str
) -> None:
    # Mail among colleagues stays out of the CRM whichever form the admin typed.
    decision = decide_mail(_mail({"from": ME, "to": colleague}),
                           _directory("bücher.example", internal), now=NOW)
    assert (decision.action, decision.reason) == ("skip", "internal-only mail")


@pytest.mark.parametrize(
    ("headers", "action", "links"),
    [
        # a quoted local part that needs no quotes is the contact's mailbox
        ({"from": '"chen.kim"@acme.example', "to": ME}, "capture",
         {("contact", CHEN.id), ("account", ACME.id), ("opportunity", RENEWAL.id)}),
        ({"from": 'Chen <"Chen.Kim"@ACME.example>', "to": ME}, "capture",
         {("contact", CHEN.id), ("account", ACME.id), ("opportunity", RENEWAL.id)}),
        # a quoted local part that needs them: valid, and its domain names the account
        # (two open deals, nobody with a role: suggested, not linked)
        ({"from": '"sales team"@acme.example', "to": ME}, "capture", {("account", ACME.id)}),
        ({"from": ME, "to": 'Sales <"sales team"@acme.example>'}, "capture",
         {("account", ACME.id)}),
        # an address as the display name is a name: the mailbox in angle brackets counts
        ({"from": "chen.kim@acme.example <billing@evil.example>", "to": ME}, "skip", set()),
        ({"from": '"chen.kim@acme.example" <billing@evil.example>', "to": ME}, "skip", set()),
        ({"from": "=?utf-8?q?chen.kim=40acme.example?= <billing@evil.example>", "to": ME},
         "skip", set()),
        ({"from": "Chen Kim chen.kim@acme.example <billing@evil.example>", "to": ME},
         "skip", set()),
        # ... and the display name of a real contact's mail links nothing more
        ({"from": "lee.park@acme.example <chen.kim@acme.example>", "to": ME}, "capture",
         {("contact", CHEN.id), ("account", ACME.id), ("opportunity", RENEWAL.id)}),
        # kept: upper case, comments, group syntax
        ({"from": "CHEN.KIM@ACME.EXAMPLE (Chen, lee.park@acme.example)", "to": ME}, "capture",
         {("contact", CHEN.id), ("account", ACME.id), ("opportunity", RENEWAL.id)}),
        ({"from": ME, "to": "Deal team: Chen.Kim@acme.example;"}, "capture",
         {("contact", CHEN.id), ("account", ACME.id), ("opportunity", RENEWAL.id)}),
        # kept: Reply-To and Sender never count
        ({"from": "billing@evil.example", "reply-to": "chen.kim@acme.example",
          "sender": "lee.park@acme.example", "to": ME}, "skip", set()),
        # kept: look-alike domains are other domains
        ({"from": "chen.kim@acme-example.example", "to": ME}, "skip", set()),
        ({"from": "chen.kim@acme.example.evil.example", "to": ME}, "skip", set()),
        ({"from": "chen.kim@xn--acm-fma.example", "to": ME}, "skip", set()),  # acmé
        # kept: a contact's free-mail address links the contact, never an account by domain
        ({"from": "chen.kim@gmail.com", "to": ME}, "capture",
         {("contact", CHEN.id), ("account", ACME.id), ("opportunity", RENEWAL.id)}),
        ({"from": "stranger@gmail.com", "to": ME}, "skip", set()),
        # kept: a colleague forwarding internally is internal-only
        ({"from": ME, "to": "bob@nörthwind.example",
          "subject": "Fwd: from chen.kim@acme.example"}, "skip", set()),
        # decided: a subdomain identifies the account of the domain above it
        ({"from": "ops@eu.acme.example", "to": ME}, "capture", {("account", ACME.id)}),
        ({"from": "ops@EU.ACME.EXAMPLE.", "to": ME}, "capture", {("account", ACME.id)}),
    ],
)
def test_address_forms(headers: dict[str, str], action: str, links: set) -> None:
    # Each form as mail writes it: captured (or not) with the links the rules give.
    decision = decide_mail(_mail(headers), DIRECTORY, now=NOW)
    assert decision.action == action
    assert _links(decision) == links


def test_address_as_display_name_keeps_only_the_real_mailbox() -> None:
    # The spoofed name survives as a name, never as a participant of its own.
    decision = decide_mail(_mail({"from": "chen.kim@acme.example <lee.park@acme.example>",
                                  "to": ME}), DIRECTORY, now=NOW)
    assert [(p.role, p.address, p.name) for p in decision.participants] == [
        ("from", "lee.park@acme.example", "chen.kim@acme.example"),
        ("to", "maria@nörthwind.example", ""),
    ]
    assert _links(decision) == {("contact", LEE.id), ("account", ACME.id),
                                ("opportunity", FLEET.id)}


def test_subdomain_link_names_the_subdomain() -> None:
    # The reason says which domain matched, so a rep can check it.
    decision = decide_mail(_mail({"from": "ops@eu.acme.example", "to": ME}), DIRECTORY, now=NOW)
    [account] = decision.links
    assert account.reason == "domain eu.acme.example belongs to Acme"
    assert account.confidence == 0.8


@pytest.mark.parametrize(
    ("sender", "links"),
    [
        # decided: an unknown sender replying by In-Reply-To inherits the deal and account,
        # never a contact
        ("new.person@gmail.com", {("opportunity", RENEWAL.id), ("account", ACME.id)}),
        ("spoofer@evil.example", {("opportunity", RENEWAL.id), ("account", ACME.id)}),
        # a sender known at another customer never carries the thread across
        ("hans@bücher.example", {("contact", HANS.id), ("account", BUCHER.id)}),
    ],
)
def test_unknown_sender_replying_into_a_customer_thread(sender: str, links: set) -> None:
    # A reply names the thread by its Message-IDs: the thread's deal, not its people.
    thread = (ThreadLink("opportunity", RENEWAL.id, False), ThreadLink("account", ACME.id, False),
              ThreadLink("contact", CHEN.id, False))
    mail = _mail({"from": sender, "to": ME, "in-reply-to": "<m0@acme.example>"})
    decision = decide_mail(mail, DIRECTORY, now=NOW, thread=thread)
    assert decision.action == "capture"
    assert _links(decision) == links


def test_a_provider_conversation_alone_carries_no_unknown_sender() -> None:
    # Without In-Reply-To/References (only Exchange's subject-derived id) nothing is inherited.
    thread = (ThreadLink("opportunity", RENEWAL.id, False, via_headers=False),)
    decision = decide_mail(_mail({"from": "spoofer@evil.example", "to": ME}), DIRECTORY,
                           now=NOW, thread=thread)
    assert decision.action == "skip"


@pytest.mark.parametrize("rule", ["xn--bcher-kva.example", "bücher.example"])
@pytest.mark.parametrize("address", ["hans@xn--bcher-kva.example", "hans@BÜCHER.example"])
def test_a_blocked_international_domain_is_blocked_in_either_form(rule: str, address: str
                                                                 ) -> None:
    # Privacy rules compare the same canonical domain as linking does.
    policy = CapturePolicy(blocked_domains=frozenset({canonical_domain(rule) or rule}))
    key = normalize_address(address)
    assert key is not None
    assert privacy_verdict([key], {}, policy) == "a participant is blocked"


# -- several copies of one mail ---------------------------------------------------------------

SENT = {"from": ME, "to": "chen.kim@acme.example", "bcc": "lee.park@acme.example",
        "subject": "Both deals"}
RECEIVED = {"from": ME, "to": "chen.kim@acme.example", "subject": "Both deals"}


def _held(decision: MailDecision) -> list[HeldLink]:
    return [HeldLink(Target(link.kind, link.target_id), False, link.reason, link.confidence)
            for link in decision.links]


def _after(first: dict[str, str], second: dict[str, str]) -> set[tuple[str, int]]:
    """The links an activity holds once both copies were merged, in this order."""
    one = decide_mail(_mail(first, "1"), DIRECTORY, now=NOW)
    two = decide_mail(_mail(second, "2"), DIRECTORY, now=NOW)
    held = _held(one)
    merged = merge_copy(held, one.participants, two.participants, two.links,
                        CopyContext(one.subject, DIRECTORY))
    kept = {(h.target.kind, h.target.id) for i, h in enumerate(held)
            if i not in merged.plan.remove}
    return kept | {(link.kind, link.target_id) for link in merged.plan.add}


@pytest.mark.parametrize(("first", "second"), [(SENT, RECEIVED), (RECEIVED, SENT)])
def test_copies_are_decided_once_on_their_union(first: dict, second: dict) -> None:
    # The Sent copy's Bcc names a second deal's contact: the union names two deals, so
    # none is linked, in whichever order the copies arrive (never both).
    union = decide_mail(_mail(SENT), DIRECTORY, now=NOW)
    assert _links(union) == {("contact", CHEN.id), ("contact", LEE.id), ("account", ACME.id)}
    assert {s.target_id for s in union.suggestions} == {RENEWAL.id, FLEET.id}
    assert _after(first, second) == _links(union)


def test_a_persons_deal_survives_another_copy() -> None:
    # A rep chose the deal: the union of copies never removes it nor adds another.
    one = decide_mail(_mail(RECEIVED), DIRECTORY, now=NOW)
    held = [*_held(one)[:-1], HeldLink(Target("opportunity", RENEWAL.id), True)]
    two = decide_mail(_mail(SENT, "2"), DIRECTORY, now=NOW)
    plan = merge_copy(held, one.participants, two.participants, two.links,
                      CopyContext(one.subject, DIRECTORY)).plan
    assert len(held) - 1 not in plan.remove
    assert all(link.kind != "opportunity" for link in plan.add)


def test_union_lists_each_participant_once() -> None:
    # Every (address, role) of every copy, once, in the order first seen.
    one = decide_mail(_mail(RECEIVED), DIRECTORY, now=NOW).participants
    two = decide_mail(_mail(SENT), DIRECTORY, now=NOW).participants
    assert [(p.role, p.address) for p in union_participants(one, two)] == [
        ("from", ME), ("to", "chen.kim@acme.example"), ("bcc", "lee.park@acme.example")]
