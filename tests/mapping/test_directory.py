import pytest

from crmsync.mapping.directory import Directory
from tests.mapping.directories import ACME, ANA, DIRECTORY, GLOBEX


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("me@ours.example", True),
        ("ME@OURS.EXAMPLE", True),
        ("me@eu.ours.example", True),
        ("me@mail.eu.ours-corp.example", True),
        ("me@notours.example", False),
        ("me@ours.example.evil.com", False),
        ("ana@acme.com", False),
        ("not-an-address", False),
    ],
)
def test_is_internal(address: str, expected: bool) -> None:
    # Our domains and their subdomains are internal; look-alikes are not.
    assert DIRECTORY.is_internal(address) is expected


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("acme.com", ACME),
        ("ACME.com.", ACME),
        ("eu.acme.com", ACME),
        ("mail.eu.acme.com", ACME),
        ("globex.cn", GLOBEX),
        ("notacme.com", None),
        ("com", None),
        # free-mail never identifies an account, even one that lists it
        ("gmail.com", None),
        ("mail.gmail.com", None),
    ],
)
def test_account_for_domain(domain: str, expected: object) -> None:
    # Domains walk up to the account that owns them; free-mail never does.
    assert DIRECTORY.account_for_domain(domain) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [("ana@acme.com", ANA), ("<Ana@ACME.com>", ANA), ("ANA.RUIZ@gmail.com", ANA), ("x@y.z", None)],
)
def test_contact_for(address: str, expected: object) -> None:
    # Any spelling of any of a contact's addresses finds the contact.
    assert DIRECTORY.contact_for(address) == expected


def test_empty_directory_knows_only_our_domains() -> None:
    # A fresh CRM: internal mail is still recognized, nothing else matches.
    directory = Directory.empty(["Ours.example"])
    assert directory.internal_domains == frozenset({"ours.example"})
    assert directory.is_internal("a@ours.example")
    assert directory.contact_for("ana@acme.com") is None
    assert directory.account_for_domain("acme.com") is None
