from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.mapping.addresses import (
    Address,
    domain_of,
    normalize_address,
    parse_address_list,
)
from tests.mapping.strategies import header_text

#: real-world header values, vendored with their sources (tests/data/headers/SOURCE.md)
HEADERS = Path(__file__).resolve().parent.parent / "data" / "headers"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ana.Ruiz@Acme.COM", "ana.ruiz@acme.com"),
        ("  <ana@acme.com>  ", "ana@acme.com"),
        ("ana@acme.com.", "ana@acme.com"),
        ("'ana@acme.com'", "ana@acme.com"),
        ("mailto:Ana@Acme.com", "ana@acme.com"),
        ("ana+crm@sub.acme.com", "ana+crm@sub.acme.com"),
        # IDNA domains become Unicode, so both spellings match one contact
        ("hans@xn--mnchen-3ya.de", "hans@münchen.de"),
        ("hans@MÜNCHEN.de", "hans@münchen.de"),
        # not addresses we can match
        ("ana", None),
        ("ana@localhost", None),
        ("@acme.com", None),
        ("ana@@acme.com", None),
        ("a@b@acme.com", None),
        ("ana@acme..com", None),
        ("ana ruiz@acme.com", None),
        # a quoted local part: unquoted when it needs no quotes, kept quoted when it does
        ('"chen.kim"@acme.example', "chen.kim@acme.example"),
        ('"Chen.Kim"@ACME.example', "chen.kim@acme.example"),
        ('"sales team"@acme.example', '"sales team"@acme.example'),
        ('"Sales Team"@Acme.Example', '"sales team"@acme.example'),
        ('"a\\"b"@acme.example', '"a\\"b"@acme.example'),
        ('"a\\.b"@acme.example', "a.b@acme.example"),
        ('"a@b"@acme.example', '"a@b"@acme.example'),
        ('""@acme.example', None),
        ('"open@acme.example', None),
        ('"a"b"@acme.example', None),
        ("chen.kim\"@acme.example", None),
        # IDNA 2008 / UTS 46: every spelling of one domain is one key
        ("hans@XN--MNCHEN-3YA.DE", "hans@münchen.de"),
        ("hans@ｍüｎｃｈｅｎ。de", "hans@münchen.de"),
        ("zoe@xn--zz.example", "zoe@xn--zz.example"),
        ("ops@mail_gw.acme.example", "ops@mail_gw.acme.example"),
        ("ana@acme.com\x00", None),
        ("", None),
    ],
)
def test_normalize_address(raw: str, expected: str | None) -> None:
    # One spelling per mailbox, and None for what is not a mailbox.
    assert normalize_address(raw) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [("ana@Acme.com", "acme.com"), ("ana@eu.acme.com.", "eu.acme.com"), ("acme.com", ""),
     ("ana@xn--bcher-kva.example", "bücher.example"), ("ana@BÜCHER.example", "bücher.example")],
)
def test_domain_of(address: str, expected: str) -> None:
    # The domain is what internal/account matching keys on.
    assert domain_of(address) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '"Ruiz, Ana" <Ana@Acme.com>, bob@example.org',
            [Address("ana@acme.com", "Ruiz, Ana"), Address("bob@example.org", "")],
        ),
        (
            "=?gb2312?B?1cXI/Q==?= <zhang@example.cn>",
            [Address("zhang@example.cn", "张三")],
        ),
        (
            '"=?utf-8?q?Ana_Ruiz_N=C3=BA=C3=B1ez?=" <ana@acme.com>',
            [Address("ana@acme.com", "Ana Ruiz Núñez")],
        ),
        ("ana@acme.com (Ana Ruiz)", [Address("ana@acme.com", "Ana Ruiz")]),
        # the address repeated as the name is no name
        ("'ana@acme.com' <ana@acme.com>", [Address("ana@acme.com", "")]),
        # duplicates keep the first position and the first non-empty name
        (
            "ANA@acme.com, Bob <bob@x.org>, Ana Ruiz <ana@acme.com>",
            [Address("ana@acme.com", "Ana Ruiz"), Address("bob@x.org", "Bob")],
        ),
        # groups, empty addresses and junk are dropped
        ("undisclosed-recipients:;", []),
        ('"Team":;', []),
        ("<>", []),
        ("Ana Ruiz <>", []),
        ("Team: ana@acme.com, bob@x.org;", [Address("ana@acme.com", ""), Address("bob@x.org", "")]),
        # an unbalanced quote swallows the rest; the addresses in it are salvaged
        ('"unbalanced <a@acme.com>, c@x.org', [Address("a@acme.com", ""), Address("c@x.org", "")]),
        # NUL and folding whitespace
        (
            "ana@acme.com\x00,\r\n\t<bob@x.org>",
            [Address("ana@acme.com", ""), Address("bob@x.org", "")],
        ),
        # quoted local parts are mailboxes: the same one unquoted, or a quoted one kept
        ('"chen.kim"@acme.example', [Address("chen.kim@acme.example", "")]),
        ('Sales <"sales team"@Acme.Example>', [Address('"sales team"@acme.example', "Sales")]),
        # an address written as the display name is a name: one mailbox, in angle brackets
        (
            "chen.kim@acme.example <billing@evil.example>",
            [Address("billing@evil.example", "chen.kim@acme.example")],
        ),
        (
            "Ana <ana@x.org>, Chen Kim chen.kim@acme.example <billing@evil.example>",
            [Address("ana@x.org", "Ana"),
             Address("billing@evil.example", "Chen Kim chen.kim@acme.example")],
        ),
        (
            '"chen.kim@acme.example" <billing@evil.example>',
            [Address("billing@evil.example", "chen.kim@acme.example")],
        ),
        (
            "=?utf-8?q?chen.kim=40acme.example?= <billing@evil.example>",
            [Address("billing@evil.example", "chen.kim@acme.example")],
        ),
        # the same address in punycode and in Unicode is listed once
        (
            "hans@xn--mnchen-3ya.de, Hans <HANS@MÜNCHEN.DE>",
            [Address("hans@münchen.de", "Hans")],
        ),
        (None, []),
        ("", []),
    ],
)
def test_parse_address_list(raw: str | None, expected: list[Address]) -> None:
    # Header values become decoded, normalized, de-duplicated addresses.
    assert parse_address_list(raw) == expected


@pytest.mark.timeout(10)  # a guard against quadratic blow-ups, not a benchmark
@pytest.mark.parametrize(
    "raw",
    [
        ", ".join(f"User {n} <u{n}@ex{n}.com>" for n in range(50_000)),
        "(" * 50_000 + "a@acme.com",
        ":" * 50_000,
        '"' * 50_000,
        "<" * 50_000,
        "\\" * 50_000,
        "a" * 50_000 + "@",
        "@" * 50_000,
        "a@acme.com\x00" * 10_000,
        "=?utf-8?q?" * 20_000,
        "a@b" + " " * 50_000 + "<",
        ", ".join(f"u{n}@ex.com <v{n}@ex.com>" for n in range(20_000)),
        '"' + "\\x" * 25_000 + '"@acme.com',
        "a@" + "xn--" * 12_000 + ".com",
    ],
)
def test_parse_address_list_survives_hostile_headers(raw: str) -> None:
    # Headers written to hurt parsers neither raise nor hang.
    addresses = parse_address_list(raw)
    assert all(normalize_address(item.address) == item.address for item in addresses)


def test_parse_address_list_keeps_all_of_a_huge_list() -> None:
    # A 50k-recipient header loses no recipient.
    raw = ", ".join(f"u{n}@ex.com" for n in range(50_000))
    assert len(parse_address_list(raw)) == 50_000


def test_parse_address_list_salvages_from_too_deep_comments() -> None:
    # The stdlib parser recurses on nested comments; the address is still found.
    assert parse_address_list("(" * 5_000 + " ana@acme.com") == [Address("ana@acme.com", "")]


@given(header_text)
def test_parse_address_list_never_raises(raw: str) -> None:
    # Any header text yields addresses that are already normalized.
    for item in parse_address_list(raw):
        assert normalize_address(item.address) == item.address


@given(st.lists(st.tuples(st.text(max_size=12), st.emails()), max_size=5))
def test_parse_address_list_round_trips_formatted_lists(entries: list[tuple[str, str]]) -> None:
    # Every address we write with email.utils.formataddr comes back, in order.
    from email.utils import formataddr

    raw = ", ".join(formataddr((name, email)) for name, email in entries)
    expected = list(dict.fromkeys(a for _, e in entries if (a := normalize_address(e))))
    assert [item.address for item in parse_address_list(raw)] == expected


def _corpus_lines(name: str) -> list[str]:
    text = (HEADERS / name).read_text(encoding="utf-8", errors="surrogateescape")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize(
    "name",
    [
        "address-list-corpus-jlingle.txt",
        "mailbox_valid.txt",
        "mailbox_invalid.txt",
    ],
)
def test_real_world_address_corpora_parse(name: str) -> None:
    # Every real-world address value parses without error into normalized addresses.
    lines = _corpus_lines(name)
    assert len(lines) > 50
    for line in lines:
        for item in parse_address_list(line):
            assert normalize_address(item.address) == item.address


def test_real_world_address_list_corpus_mostly_yields_addresses() -> None:
    # Masked real headers (X for letters) keep their shape, so most still hold an address.
    lines = _corpus_lines("address-list-corpus-jlingle.txt")
    assert sum(1 for line in lines if parse_address_list(line)) > 0.9 * len(lines)


def test_valid_unquoted_addresses_are_all_found() -> None:
    # Every valid address without a quoted local part and with a dotted domain is kept.
    lines = _corpus_lines("mailbox_valid.txt")
    plain = [line for line in lines if '"' not in line and "." in line.rpartition("@")[2]]
    assert len(plain) > 50
    assert [line for line in plain if not parse_address_list(line)] == []
