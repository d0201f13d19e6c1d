import pytest

from crmsync.mapping.freemail import PINNED_FREE_MAIL_DOMAINS, is_free_mail_domain


@pytest.mark.parametrize("domain", sorted(PINNED_FREE_MAIL_DOMAINS))
def test_major_providers_are_free_mail(domain: str) -> None:
    # The providers that would do the most harm as "company domains" are free-mail.
    assert is_free_mail_domain(domain)


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("GMAIL.COM", True),
        ("gmail.com.", True),
        ("vip.qq.com", True),
        ("mail.yahoo.com", True),
        ("acme.com", False),
        ("gmail.acme.com", False),
        ("com", False),
        ("", False),
    ],
)
def test_is_free_mail_domain(domain: str, expected: bool) -> None:
    # Subdomains of free-mail are free-mail; company domains are not.
    assert is_free_mail_domain(domain) is expected
