"""The IMAP cursor string: UID sets round-trip, and bad cursors mean resync."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.connectors.imap.cursor import ImapCursor, format_uid_set, parse_uid_set
from crmsync.errors import CursorExpiredError


@given(st.frozensets(st.integers(min_value=1, max_value=5000), max_size=300))
def test_uid_set_round_trip(uids):
    # Any set of UIDs survives the compact sequence-set form.
    assert parse_uid_set(format_uid_set(uids)) == uids


def test_uid_set_is_compact():
    # Runs become ranges.
    assert format_uid_set([1, 2, 3, 5, 7, 8]) == "1:3,5,7:8"


def test_cursor_round_trip():
    # Every field survives dumps/loads.
    cursor = ImapCursor(7, 100, 98, 55, frozenset({1, 2, 9}), 9, date(2024, 1, 31))
    assert ImapCursor.loads(cursor.dumps()) == cursor


def test_cursor_head_without_uids():
    # A poll's first look reads everything but the UID set (what SELECT is compared with).
    cursor = ImapCursor(7, 100, 98, 55, frozenset(range(1, 99)), None, date(2024, 1, 31))
    head = ImapCursor.loads(cursor.dumps(), with_uids=False)
    assert head.uids == frozenset()
    assert (head.uidvalidity, head.uidnext, head.exists, head.modseq, head.since) == (
        7, 100, 98, 55, date(2024, 1, 31))


@pytest.mark.parametrize("text", ["", "{", "[]", '{"v": 2}', '{"v": 1, "uidvalidity": 1}'])
def test_bad_cursor_is_expired(text):
    # Unreadable or foreign cursors make the engine resync.
    with pytest.raises(CursorExpiredError):
        ImapCursor.loads(text)
