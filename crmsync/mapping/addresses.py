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

import idna

from crmsync.mapping.encoded_words import decode_header_text

__all__ = [
    "Address",
    "canonical_domain",
    "decode_header_text",
    "domain_of",
    "normalize_address",
    "parse_address_list",
]

#: Characters never found in an unquoted local part (RFC 5322 specials, spaces, controls).
_FORBIDDEN = re.compile(r"[\s<>()\[\],;:@\"\\\x00-\x1f\x7f]")
#: RFC 5322 atext (RFC 6532 adds every non-ASCII character)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\U0010ffff-]+"
#: A local part that needs no quotes (RFC 5322 dot-atom): its quoted spelling is the same
#: mailbox, and the unquoted one is the canonical form.
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
#: Inside a quoted local part: printable text; a quote or backslash only escaped.
_QUOTED_TEXT = re.compile(r'(?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x1f\x7f])+')
_QUOTED_PAIR = re.compile(r"\\(.)")
#: An address written where the display name goes, unquoted, before the mailbox in angle
#: brackets (``chen@acme.example <billing@evil.example>``): the standard-library parser
#: splits it into two mailboxes. One "@" at most and no lazy part, so the match is linear.
_ADDRESS_AS_NAME = re.compile(r'(^|,)([^,<>"@]*@[^,<>"@]*)<')
#: A domain label: letters, digits, marks of any script, "-" and "_" (seen in real hosts);
#: no ASCII punctuation.
_DOMAIN_LABEL = re.compile(r"[^\s!-,./:-@\[-^`{-~\x00-\x1f\x7f]+")
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

    Strips whitespace, enclosing ``<>`` or quotes, a ``mailto:`` prefix and trailing dots;
    lower-cases the local part (mail systems treat local parts case-insensitively in
    practice, and a CRM that did not would miss matches); writes a quoted local part
    without its quotes when it needs none (``"chen.kim"@x`` is ``chen.kim@x``, RFC 5321
    section 4.1.2) and keeps the quotes otherwise (``"sales team"@x`` is a valid
    mailbox); puts the domain in its :func:`canonical_domain` form. Requires a non-empty
    local part and a domain with at least one dot.

    :param raw: an address as found in a header or typed into the CRM.
    """
    if len(raw) > _CACHED_TEXT_MAX:
        return _normalize_address(raw)
    return _normalize_address_cached(raw)


def _normalize_address(raw: str) -> str | None:
    text = _unwrap(raw)
    if text[:7].lower() == "mailto:":
        text = text[7:]
    local, at, domain = text.rstrip(".").rpartition("@")
    if not at:
        return None
    local_key = _local_key(local)
    domain_key = canonical_domain(domain)
    if local_key is None or domain_key is None:
        return None
    return f"{local_key}@{domain_key}"


def _unwrap(raw: str) -> str:
    """Strip whitespace and the ``<>`` or quotes around a whole address, as often typed."""
    text = raw.strip()
    while len(text) > 1 and text[0] + text[-1] in ("<>", '""', "''"):
        text = text[1:-1].strip()
    return text.strip("<>").strip()


def _local_key(local: str) -> str | None:
    """Return the canonical local part, or ``None`` when it is not a valid one."""
    if len(local) > 2 and local[0] == local[-1] == '"':
        inner = local[1:-1]
        if not _QUOTED_TEXT.fullmatch(inner):
            return None
        text = _QUOTED_PAIR.sub(r"\1", inner).lower()
        if _DOT_ATOM.fullmatch(text):
            return text  # the quotes were not needed: the same mailbox without them
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if not local or _FORBIDDEN.search(local):
        return None
    return local.lower()


_normalize_address_cached = lru_cache(maxsize=_ADDRESS_CACHE_SIZE)(_normalize_address)


def domain_of(address: str) -> str:
    """Return the :func:`canonical_domain` of ``address``, or ``""`` when it has no ``@``.

    Text after the ``@`` that is no domain name is returned lower-cased.
    """
    _, at, domain = address.rpartition("@")
    if not at:
        return ""
    return canonical_domain(domain) or domain.strip().rstrip(".").lower()


def canonical_domain(domain: str) -> str | None:
    """Return the one form of a mail domain every comparison uses, or ``None``.

    CRM imports, privacy rules, our own domains and mail addresses all go through here, so
    ``xn--mnchen-3ya.de``, ``MÜNCHEN.de`` and ``münchen.de`` are one domain whichever side
    wrote which: UTS 46 mapping (case, full-width forms, ideographic dots), then each
    label in its IDNA 2008 Unicode form (A-labels decoded). A label IDNA 2008 refuses but
    hosts use (``mail_gw``) is kept lower-cased; invalid punycode is kept as written.

    :param domain: a domain as typed or found after an ``@``, maybe with a trailing dot.
    :returns: ``None`` when it is not a domain with at least two labels.
    """
    if len(domain) > _CACHED_TEXT_MAX:
        return None  # no domain name is this long (RFC 1035: 255 octets)
    return _canonical_domain_cached(domain)


@lru_cache(maxsize=_ADDRESS_CACHE_SIZE)
def _canonical_domain_cached(domain: str) -> str | None:
    text = domain.strip().strip(".")
    try:
        text = idna.uts46_remap(text, std3_rules=False, transitional=False)
    except ValueError:  # a code point UTS 46 disallows: the label check below decides
        text = text.lower()
    labels = text.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return None
    return ".".join(_unicode_label(label) for label in labels)


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
    # An address written as the display name is a name: quote it, as every mail client
    # shows it, so that only the mailbox in angle brackets counts.
    text = _ADDRESS_AS_NAME.sub(lambda m: f'{m[1]}"{m[2].strip()}" <', text)
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


def _unicode_label(label: str) -> str:
    try:
        return idna.decode(label)
    except ValueError:  # refused by IDNA 2008 (idna.IDNAError is a UnicodeError)
        return label
