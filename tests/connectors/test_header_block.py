"""header_fields reads a header block exactly as the stdlib's compat32 parser does.

The fetch side reads every mail's headers with it, so a difference would change what
crmsync stores (a lost field, a value cut differently); the stdlib is the reference.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesHeaderParser

from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.connectors.header_block import header_fields
from crmsync.connectors.mime import split_header_block
from tests.connectors.test_imap_response import corpus_messages

STDLIB = BytesHeaderParser(policy=policy.compat32)


def stdlib_fields(block: bytes) -> list[tuple[str, str]]:
    return list(STDLIB.parsebytes(block)._headers)  # noqa: SLF001 - the reference result


def test_same_fields_as_the_stdlib_on_the_corpora() -> None:
    # Whole messages and their header blocks alone (what HEADER.FIELDS returns).
    checked = 0
    for name, raw in corpus_messages():
        for block in (raw, split_header_block(raw)[0]):
            assert header_fields(block) == stdlib_fields(block), name
        checked += 1
    assert checked > 250


#: the pieces header blocks are made of, odd ones included: every line ending, folding,
#: envelope lines, empty names, 8-bit bytes, colons and blanks in odd places
PIECES = st.sampled_from([
    b"Subject", b"From", b"From ", b"To", b"Message-ID", b"X-Y", b":", b": ", b" ", b"\t",
    b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"value", b"=?utf-8?q?caf=C3=A9?=", b"\xc3\xa9",
    b"\xff", b"<a@b.example>", b"a@b", b"(comment)", b";", b"\x00", b"\x7f", b"~", b"From x",
])


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, max_size=40).map(b"".join))
def test_same_fields_as_the_stdlib_on_generated_blocks(block: bytes) -> None:
    assert header_fields(block) == stdlib_fields(block)


def test_odd_lines_are_read_as_the_stdlib_reads_them() -> None:
    # Named cases, so a failure says which rule broke.
    cases = [
        b"From someone Mon Jan 1\r\nSubject: envelope first\r\n\r\nbody",
        b" continuation first\r\nSubject: x\r\n\r\n",
        b": no name\r\nSubject: after it\r\n",
        b"Subject: a\r\nFrom misplaced\r\nTo: b\r\n",
        b"Subject: a\r\nFrom last",
        b"Subject: folded\r\n\tsecond\r\n third\r\nTo: b\r\n",
        b"Subject: cr only\rTo: b\r",
        b"Subject: no separator\r\nnot a header line\r\nTo: lost\r\n",
        b"Subject:\xc3\xa9t\xe9\r\n\r\n",
    ]
    for block in cases:
        assert header_fields(block) == stdlib_fields(block), block
