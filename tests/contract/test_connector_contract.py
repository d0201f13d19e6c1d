"""The connector contract (crmsync.connectors.base), run against every connector.

Modelled on vdirsyncer's storage tests: one suite, one fixture per system (``handle``,
see conftest.py). A system that cannot do something says so in ``handle.supports``;
a test that needs it (``@pytest.mark.needs(...)``) runs against the systems that
declare it (conftest.py), so nothing is skipped.
"""

from __future__ import annotations

from email.utils import getaddresses
from pathlib import Path

import pytest

from crmsync.connectors import registry
from crmsync.connectors.base import Change, Deletion, FlagsChanged, MailMessage
from crmsync.connectors.mime import decode_words, parse_message
from tests.contract.handles import HANDLE_TYPES, WITHOUT_MAIL, Handle, Synced, drain
from tests.engine.mails import make_mail, sample_mailbox

DATA = Path(__file__).resolve().parent.parent / "data" / "mail"


def mails(changes: list[Change]) -> list[MailMessage]:
    return [change for change in changes if isinstance(change, MailMessage)]


def message_ids(changes: list[Change]) -> list[str]:
    return sorted(mail.headers.get("message-id", "") for mail in mails(changes))


def item_of(synced: Synced, message_id: str) -> str:
    [found] = [m.item_id for m in mails(synced.changes) if m.headers["message-id"] == message_id]
    return found


def mid(n: int) -> str:
    return f"<m{n}@test.example>"


def test_every_registered_connector_is_under_contract() -> None:
    # A connector added to the registry (an Exchange one, say) must join the matrix.
    covered = {cls.connector_name for cls in HANDLE_TYPES}
    missing = sorted(set(registry.CONNECTORS) - covered - set(WITHOUT_MAIL))
    assert not missing, f"no contract handle for {missing}: add one to HANDLE_TYPES"


def test_first_sync_yields_every_message_exactly_once(handle: Handle) -> None:
    raws = sample_mailbox()
    for raw in raws:
        handle.add_message(raw)
    synced = drain(handle.connector())
    expected = sorted(parse_message(raw, item_id="", folder="").headers["message-id"]
                      for raw in raws)
    assert all(isinstance(change, MailMessage) for change in synced.changes)
    assert message_ids(synced.changes) == expected
    items = [change.item_id for change in synced.changes]
    assert len(set(items)) == len(items) == len(raws)


def test_small_pages_yield_what_one_big_page_yields(handle: Handle) -> None:
    for n in range(7):
        handle.add_message(make_mail(n))
    small = drain(handle.connector(batch_size=2))
    big = drain(handle.connector(batch_size=1000))

    def keys(synced: Synced) -> list[tuple[str, str]]:
        return sorted((m.headers["message-id"], m.item_id) for m in mails(synced.changes))

    assert keys(small) == keys(big) and len(keys(small)) == 7
    assert all(len(page.changes) <= 2 for page in small.pages)
    assert len([page for page in small.pages if page.changes]) >= 4


def test_resuming_from_any_page_yields_exactly_the_rest(handle: Handle) -> None:
    # A crash after any page: the page's cursor resumes with nothing skipped or repeated.
    for n in range(7):
        handle.add_message(make_mail(n))
    first = drain(handle.connector(batch_size=2))
    cursors: dict[str, str] = {}
    delivered: list[Change] = []
    for page in first.pages[:-1]:
        cursors[page.resource] = page.cursor
        delivered += page.changes
        rest = drain(handle.connector(batch_size=2), cursors)
        assert message_ids(delivered + rest.changes) == [mid(n) for n in range(7)], page.cursor


def test_sync_from_the_last_cursor_yields_nothing(handle: Handle) -> None:
    for n in range(3):
        handle.add_message(make_mail(n))
    first = drain(handle.connector())
    again = drain(handle.connector(), first.cursors)
    assert again.changes == []
    assert set(again.cursors) == set(first.cursors)


def test_cursor_is_a_string_a_new_connector_resumes_from(handle: Handle) -> None:
    # The engine stores the cursor as text and builds a new connector for every run:
    # the string alone says where to resume.
    for n in range(3):
        handle.add_message(make_mail(n))
    first = drain(handle.connector(batch_size=2))
    assert all(isinstance(page.cursor, str) and page.cursor for page in first.pages)
    stored = {resource: "".join(cursor) for resource, cursor in first.cursors.items()}
    handle.add_message(make_mail(50))
    then = drain(handle.connector(batch_size=2), stored)
    assert [type(change) for change in then.changes] == [MailMessage]
    assert message_ids(then.changes) == [mid(50)]
    assert item_of(then, mid(50)) not in {m.item_id for m in mails(first.changes)}


@pytest.mark.needs("deletions")
def test_deletion_is_reported_with_the_item_id(handle: Handle) -> None:
    refs = [handle.add_message(make_mail(n)) for n in range(3)]
    first = drain(handle.connector())
    handle.delete_message(refs[1])
    then = drain(handle.connector(), first.cursors)
    assert then.changes == [Deletion(item_of(first, mid(1)), then.changes[0].folder)]
    assert drain(handle.connector(), then.cursors).changes == []


@pytest.mark.needs("flags")
def test_flag_change_is_reported_on_the_same_item(handle: Handle) -> None:
    # As FlagsChanged (IMAP CONDSTORE) or as the message again with its new flags (Graph).
    refs = [handle.add_message(make_mail(n)) for n in range(3)]
    first = drain(handle.connector())
    assert all("\\Flagged" not in m.flags for m in mails(first.changes))
    handle.flag_message(refs[0], "\\Flagged")
    then = drain(handle.connector(), first.cursors)
    assert [change.item_id for change in then.changes] == [item_of(first, mid(0))]
    [change] = then.changes
    assert isinstance(change, FlagsChanged | MailMessage) and "\\Flagged" in change.flags


@pytest.mark.needs("cursor_expiry")
def test_expired_cursor_resyncs_everything_once(handle: Handle) -> None:
    # UIDVALIDITY changed / 410 Gone: the first page says resync and every live message
    # comes again, once; deletions, if any, name only the ids the old cursor knew.
    for n in range(3):
        handle.add_message(make_mail(n))
    first = drain(handle.connector(batch_size=2))
    handle.expire_cursors()
    handle.add_message(make_mail(9))
    then = drain(handle.connector(batch_size=2), first.cursors)
    assert then.pages[0].resync
    assert message_ids(then.changes) == [mid(0), mid(1), mid(2), mid(9)]
    old_items = {m.item_id for m in mails(first.changes)}
    assert {c.item_id for c in then.changes if isinstance(c, Deletion)} <= old_items
    assert not [c for c in then.changes if not isinstance(c, MailMessage | Deletion)]
    assert drain(handle.connector(), then.cursors).changes == []


@pytest.mark.needs("empty_mailbox")
def test_empty_mailbox_then_first_message(handle: Handle) -> None:
    empty = drain(handle.connector())
    assert empty.changes == []
    assert set(empty.cursors) == set(handle.connector().list_resources())
    handle.add_message(make_mail(1))
    assert message_ids(drain(handle.connector(), empty.cursors).changes) == [mid(1)]


ROUND_TRIP = {
    "plain": lambda: make_mail(1, subject="Quote for 40 vans", body="Hello Maria,\n\nthe quote.\n"),
    "thunderbird-html-only": lambda: (DATA / "thunderbird-03-HTML.eml").read_bytes(),
    "stalwart-latin1-attachment": lambda: (DATA / "stalwart-legacy-023.eml").read_bytes(),
}


def _addresses(value: str | None) -> list[tuple[str, str]]:
    return [(decode_words(name) or "", address.lower())
            for name, address in getaddresses([value or ""])]


def _words(text: str | None) -> list[str]:
    return (text or "").split()


@pytest.mark.parametrize("sample", sorted(ROUND_TRIP))
def test_headers_and_body_round_trip(handle: Handle, sample: str) -> None:
    # What the connector yields reads as what the mail says: Message-ID, subject,
    # sender and text, compared with the MIME parser's reading of the same bytes.
    raw = ROUND_TRIP[sample]()
    handle.add_message(raw)
    [got] = drain(handle.connector()).changes
    expected = parse_message(raw, item_id="", folder="")
    assert isinstance(got, MailMessage) and isinstance(expected, MailMessage)
    assert got.headers["message-id"] == expected.headers["message-id"]
    assert decode_words(got.headers.get("subject")) == decode_words(
        expected.headers.get("subject"))
    assert _addresses(got.headers.get("from")) == _addresses(expected.headers.get("from"))
    assert _words(got.body_text) == _words(expected.body_text)
    assert _words(got.body_text)  # a body was read at all
