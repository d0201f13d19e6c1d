import pytest

from crmsync.mapping.matchers import (
    DEFAULT_MATCHERS,
    ContactAccountMatcher,
    ContactAddressMatcher,
    DomainAccountMatcher,
    match_participants,
)
from crmsync.mapping.records import Participant, ProposedLink
from tests.mapping.directories import DIRECTORY


def _p(address: str, role: str = "from", name: str = "") -> Participant:
    contact = DIRECTORY.contact_for(address)
    return Participant(
        address, name, role, contact.id if contact else None, DIRECTORY.is_internal(address)
    )


@pytest.mark.parametrize(
    ("participants", "expected"),
    [
        # the sender is a contact: contact, then the contact's account
        (
            [_p("ana@acme.com")],
            [
                ProposedLink("contact", 1, "sender is contact Ana Ruiz", 1.0),
                ProposedLink("account", 10, "contact Ana Ruiz belongs to Acme", 0.95),
            ],
        ),
        # a recipient is a contact (on a second, free-mail address)
        (
            [_p("me@ours.example"), _p("ana.ruiz@gmail.com", "cc")],
            [
                ProposedLink("contact", 1, "recipient is contact Ana Ruiz", 1.0),
                ProposedLink("account", 10, "contact Ana Ruiz belongs to Acme", 0.95),
            ],
        ),
        # an unknown person at an account's (sub)domain
        (
            [_p("bob@eu.acme.com")],
            [ProposedLink("account", 10, "domain eu.acme.com belongs to Acme", 0.8)],
        ),
        # a contact and a colleague of hers: the account is linked once, strongest reason
        (
            [_p("bob@acme.com"), _p("ana@acme.com", "to")],
            [
                ProposedLink("contact", 1, "recipient is contact Ana Ruiz", 1.0),
                ProposedLink("account", 10, "contact Ana Ruiz belongs to Acme", 0.95),
            ],
        ),
        # a contact of one account writing from another account's domain: both accounts
        (
            [_p("li@globex.cn"), _p("carl@acme.com", "to")],
            [
                ProposedLink("contact", 2, "sender is contact Li Wei", 1.0),
                ProposedLink("account", 20, "contact Li Wei belongs to Globex", 0.95),
                ProposedLink("account", 10, "domain acme.com belongs to Acme", 0.8),
            ],
        ),
        # a contact without a name or an account
        (
            [_p("solo@freelance.example", name="Solo Dev")],
            [ProposedLink("contact", 3, "sender is contact Solo Dev", 1.0)],
        ),
        # a stranger on free-mail, even though an account lists gmail.com
        ([_p("stranger@gmail.com")], []),
        # internal participants are never matched
        ([_p("me@ours.example")], []),
        ([], []),
    ],
)
def test_match_participants(participants: list[Participant], expected: list[ProposedLink]) -> None:
    # Each target is linked once, with the reason a rep can check.
    assert match_participants(participants, DIRECTORY) == expected


def test_matchers_describe_themselves() -> None:
    # The admin console lists the chain by name and description.
    names = [matcher.name for matcher in DEFAULT_MATCHERS]
    assert names == ["contact-address", "contact-account", "domain-account"]
    assert all(matcher.description for matcher in DEFAULT_MATCHERS)


def test_chain_is_configurable() -> None:
    # A caller can run a subset of rules (the chain is data, not code).
    participants = [_p("ana@acme.com")]
    only_domain = match_participants(participants, DIRECTORY, [DomainAccountMatcher()])
    assert only_domain == []  # Ana's contact link says it better; domain rule stays silent
    assert ContactAddressMatcher().match(participants, DIRECTORY)[0].kind == "contact"
    assert ContactAccountMatcher().match(participants, DIRECTORY)[0].kind == "account"
