"""The in-memory connector's own promises (the shared ones are in tests/contract)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crmsync.connectors import fake, registry
from crmsync.connectors.base import Deletion, FlagsChanged, MailMessage
from crmsync.errors import ConfigError, CursorExpiredError, TransientError
from tests.connectors import mail


@pytest.fixture
def box() -> Iterator[fake.FakeMailbox]:
    made = fake.mailbox("test-fake", ("INBOX", "Archive"))
    yield made
    fake.forget("test-fake")


def test_registered_as_fake_and_built_from_settings(box: fake.FakeMailbox) -> None:
    # The engine builds it like any connector: provider "fake", settings name the mailbox.
    cls = registry.load_connector_class("fake")
    connector = cls.from_settings({"mailbox": "test-fake", "batch_size": 7,
                                   "prefetch_pages": True}, "")
    assert isinstance(connector, fake.FakeConnector) and connector.box is box
    assert (connector.batch_size, connector.prefetch_pages) == (7, True)
    assert connector.list_resources() == ["INBOX", "Archive"]


@pytest.mark.parametrize("settings", [{}, {"mailbox": "not-made"}, {"mailbox": "test-fake",
                                                                    "batch_size": -1}])
def test_bad_settings_are_config_errors(box: fake.FakeMailbox, settings: dict) -> None:
    with pytest.raises(ConfigError):
        fake.FakeConnector.from_settings(settings, "")


def test_ids_are_a_folders_own(box: fake.FakeMailbox) -> None:
    # Like IMAP UIDs: the same id in two folders names two messages.
    first, other = box.append(mail.plain(1)), box.append(mail.plain(2), "Archive")
    assert first == other == "1:1"
    box.set_flags(first, ["\\Seen"], "Archive")
    assert box.flags(first) == () and box.flags(first, "Archive") == ("\\Seen",)
    box.delete(first)
    assert box.live() == {} and box.live("Archive") == {first: mail.plain(2)}
    with pytest.raises(KeyError):
        box.delete(first)


def test_crash_after_pages_then_resume(box: fake.FakeMailbox) -> None:
    # The crash comes instead of page 3; the second page's cursor resumes with the rest.
    for n in range(6):
        box.append(mail.plain(n))
    connector = fake.FakeConnector(box, batch_size=2)
    box.crash_after(2)
    pages = []
    with pytest.raises(TransientError):
        for page in connector.fetch_changes("INBOX", None):
            pages.append(page)
    assert len(pages) == 2 and not box.cancel_crash()
    rest = list(connector.fetch_changes("INBOX", pages[-1].cursor))
    assert [c.headers["message-id"] for p in pages + rest for c in p.changes] == [
        f"<m{n}@test>" for n in range(6)]


def test_known_changes_come_first_then_new_mail(box: fake.FakeMailbox) -> None:
    ids = [box.append(mail.plain(n)) for n in range(3)]
    connector = fake.FakeConnector(box)
    [page] = connector.fetch_changes("INBOX", None)
    box.append(mail.plain(3))
    box.set_flags(ids[2], ["\\Flagged"])
    box.delete(ids[0])
    [then] = connector.fetch_changes("INBOX", page.cursor)
    assert [(type(c), c.item_id) for c in then.changes] == [
        (Deletion, ids[0]), (FlagsChanged, ids[2]), (MailMessage, "1:4")]


def test_expiry_deletes_exactly_the_ids_the_cursor_knew(box: fake.FakeMailbox) -> None:
    ids = [box.append(mail.plain(n)) for n in range(3)]
    connector = fake.FakeConnector(box, batch_size=2)
    first = list(connector.fetch_changes("INBOX", None))[0]  # knows ids[0] and ids[1]
    box.expire_cursors()
    pages = list(connector.fetch_changes("INBOX", first.cursor))
    assert pages[0].resync and pages[0].changes == [Deletion(i, "INBOX") for i in ids[:2]]
    assert [c.item_id for p in pages[1:] for c in p.changes] == ["2:1", "2:2", "2:3"]


@pytest.mark.parametrize("cursor", ["", "imap:1", "fake:9:0:"])
def test_foreign_or_future_cursor_is_expired(box: fake.FakeMailbox, cursor: str) -> None:
    with pytest.raises(CursorExpiredError):
        list(fake.FakeConnector(box).fetch_changes("INBOX", cursor))
