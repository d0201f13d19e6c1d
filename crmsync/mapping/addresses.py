"""Email addresses as the CRM matches them: parsed, decoded, normalized, de-duplicated.

Every lookup in the CRM (contact by address, account by domain, internal or not) keys on the
normalized form produced here, so the CRM layer must normalize with the same functions when
it builds a :class:`~crmsync.mapping.directory.Directory`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses
from functools import lru_cache

from crmsync.mapping.encoded_words import decode_header_text

__all__ = [
    "Address",
    "decode_header_text",
    "domain_of",
    "normalize_address",
    "parse_address_list",
]

#: Characters never found in an address we can match (quoted local parts with spaces are
#: legal but are not worth the risk of a false match).
_FORBIDDEN = re.compile(r"[\s<>()\[\],;:\"\\\x00-\x1f\x7f]")
#: A domain label: letters, digits, marks of any script, "-" and "_" (seen in real hosts);
#: no ASCII punctuation.
_DOMAIN_LABEL = re.compile(r"[^\s!-,./:-@\[-^`{-~]+")
#: Where to cut header text when salvaging addresses the parser could not split.
_SALVAGE_SPLIT = re.compile(r"[\s<>()\[\],;:\"']+")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NAME_QUOTES = "\"' "
#: The standard-library parser recurses on nested comments and group syntax; hostile headers
#: ("((((...") exhaust the stack. These are what it raises on input it cannot parse.
_PARSER_ERRORS = (RecursionError, ValueError, IndexError, TypeError)
#: Header values and addresses repeat all through a mailbox (the same people write to the
#: same people), and parsing them was half the cost of deciding a mail: the pure functions
#: below keep their recent answers. Bounded in count and in the length of what is kept,
#: so memory stays flat with N and a hostile header is simply parsed again.
_HEADER_CACHE_SIZE = 8192
_ADDRESS_CACHE_SIZE = 32768
_CACHED_TEXT_MAX = 2048


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox named in a header.

    :param address: normalized (see :func:`normalize_address`).
    :param name: the decoded display name, ``""`` when there is none.
    """

    address: str
    name: str


def normalize_address(raw: str) -> str | None:
    """Return the matching key of an address, or ``None`` when it does not look like one.

    Strips whitespace, ``<>``, quotes, a ``mailto:`` prefix and trailing dots; lower-cases the
    whole address (mail systems treat local parts case-insensitively in practice, and a CRM
    that did not would miss matches); turns IDNA ``xn--`` labels into Unicode. Requires
    exactly one ``@``, a non-empty local part and a domain with at least one dot.

    :param raw: an address as found in a header or typed into the CRM.
    """
    if len(raw) > _CACHED_TEXT_MAX:
        return _normalize_address(raw)
    return _normalize_address_cached(raw)


def _normalize_address(raw: str) -> str | None:
    text = raw.strip().strip("<>'\"").strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    text = text.rstrip(".").lower()
    if text.count("@") != 1 or _FORBIDDEN.search(text):
        return None
    local, _, domain = text.partition("@")
    domain = _normalize_domain(domain)
    if not local or domain is None:
        return None
    return f"{local}@{domain}"


_normalize_address_cached = lru_cache(maxsize=_ADDRESS_CACHE_SIZE)(_normalize_address)


def domain_of(address: str) -> str:
    """Return the lower-case domain of ``address``, or ``""`` when it has no ``@``."""
    _, at, domain = address.rpartition("@")
    return domain.strip().rstrip(".").lower() if at else ""


def parse_address_list(raw: str | None) -> list[Address]:
    """Parse an address-list header (From, To, Cc ...) into addresses; never raise.

    Display names are decoded (RFC 2047). Entries without a valid-looking address (groups,
    ``<>``, garbage) are dropped; when the parser could not split an entry, addresses found in
    it are salvaged without a name. An address listed twice is kept once, in its first
    position; its name is the first non-empty one given.

    :param raw: the raw header value, or ``None``.
    """
    if not raw:
        return []
    if len(raw) > _CACHED_TEXT_MAX:
        return list(_parse_address_list(raw))
    return list(_parse_address_list_cached(raw))


def _parse_address_list(raw: str) -> tuple[Address, ...]:
    merged: dict[str, str] = {}
    for name, candidate in _split_entries(_CONTROLS.sub(" ", raw)):
        for address in _addresses_in(candidate):
            if not merged.get(address):
                merged[address] = _display_name(name, address)
    return tuple(Address(address, name) for address, name in merged.items())


_parse_address_list_cached = lru_cache(maxsize=_HEADER_CACHE_SIZE)(_parse_address_list)


def _split_entries(text: str) -> list[tuple[str, str]]:
    try:
        return getaddresses([text])
    except _PARSER_ERRORS:
        # The parser gave up on the whole header: salvage bare addresses from it.
        return [("", text)]


def _addresses_in(candidate: str) -> list[str]:
    """Return the address of one parsed entry, or the addresses salvaged from it."""
    address = normalize_address(candidate)
    if address is not None:
        return [address]
    if "@" not in candidate:
        return []
    found = (normalize_address(token) for token in _SALVAGE_SPLIT.split(candidate))
    return [address for address in found if address is not None]


def _display_name(raw_name: str, address: str) -> str:
    name = decode_header_text(raw_name).strip(_NAME_QUOTES)
    # Outlook often repeats the address as the name; that is no name at all.
    if normalize_address(name) == address:
        return ""
    return name


def _normalize_domain(domain: str) -> str | None:
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return None
    return ".".join(_unicode_label(label) for label in labels)


def _unicode_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return label.encode("ascii").decode("idna").lower()
    except UnicodeError:  # not valid punycode: keep the label as written
        return label
