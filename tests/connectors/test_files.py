"""FileConnector: .eml and mbox files, resume by index, clear errors for non-mail."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.connectors.base import MailMessage, Unreadable
from crmsync.connectors.files import FileConnector
from crmsync.errors import UserError
from tests.connectors import mail

DATA = Path(__file__).resolve().parents[1] / "data" / "mail"


def drain(connector: FileConnector, resource: str, cursor: str | None = None):
    return list(connector.fetch_changes(resource, cursor))


def test_eml_is_one_message():
    # An .eml file is one resource holding one message.
    path = DATA / "thunderbird-03-HTML.eml"
    connector = FileConnector([path])
    [resource] = connector.list_resources()
    [page] = drain(connector, resource)
    [message] = page.changes
    assert isinstance(message, MailMessage) and message.item_id == f"{path.name}#0"
    assert page.cursor == "1" and message.body_text


@pytest.mark.parametrize("name", ["thunderbird-mbox_mboxrd.mbox", "thunderbird-mbox_unquoted.mbox"])
def test_mbox_messages_split_on_from_lines(name):
    # 'From ' only starts a message after a blank line; '>From' is unquoted (mboxrd).
    connector = FileConnector([DATA / name])
    [page] = drain(connector, str(DATA / name))
    subjects = [m.headers["subject"] for m in page.changes]
    assert subjects == ["Sample message 1", "Sample message 2"]
    assert "From " in page.changes[0].body_text


def test_mbox_resume_and_growth(tmp_path):
    # Pages resume at the next index; messages appended later are picked up.
    path = tmp_path / "archive.mbox"
    path.write_bytes(
        b"".join(b"From x@y Mon Jan  1 00:00:00 2024\n" + mail.plain(n) + b"\n" for n in range(5))
    )
    connector = FileConnector([path], batch_size=2)
    pages = drain(connector, str(path))
    assert [p.cursor for p in pages] == ["2", "4", "5"]
    ids = [m.item_id for p in pages for m in p.changes]
    assert ids == [f"archive.mbox#{n}" for n in range(5)]
    assert [m.item_id for m in drain(connector, str(path), "2")[0].changes] == ids[2:4]
    assert [(p.changes, p.cursor) for p in drain(connector, str(path), "5")] == [([], "5")]
    with path.open("ab") as handle:
        handle.write(b"From x@y Mon Jan  1 00:00:00 2024\n" + mail.plain(9))
    [page] = drain(connector, str(path), "5")
    assert [m.headers["message-id"] for m in page.changes] == ["<m9@test>"] and page.cursor == "6"


def test_damaged_message_in_mbox_is_unreadable(tmp_path):
    # A message without header fields becomes Unreadable; its neighbours still parse.
    path = tmp_path / "mixed.mbox"
    envelope = b"From x@y Mon Jan  1 00:00:00 2024\n"
    path.write_bytes(
        envelope + mail.plain(1) + b"\n" + envelope + b"just text\n\n" + envelope + mail.plain(2)
    )
    [page] = drain(FileConnector([path]), str(path))
    assert [type(c).__name__ for c in page.changes] == ["MailMessage", "Unreadable", "MailMessage"]


def test_missing_file_is_user_error(tmp_path):
    # A path that does not exist is named in a clear error.
    with pytest.raises(UserError, match="cannot read mail file .*nope.eml"):
        FileConnector([tmp_path / "nope.eml"]).list_resources()


def test_directory_is_user_error(tmp_path):
    # A directory is not a mail file.
    with pytest.raises(UserError, match="is a directory"):
        FileConnector([tmp_path]).list_resources()


def test_binary_or_empty_file_is_user_error(tmp_path):
    # A PNG (or an empty file) cannot hold mail: refused before anything is yielded.
    path = tmp_path / "photo.eml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(UserError, match="not a mail file"):
        FileConnector([path]).list_resources()
    with pytest.raises(UserError):
        drain(FileConnector([path]), str(path))
    (tmp_path / "empty.eml").write_bytes(b"")
    with pytest.raises(UserError, match="not a mail file"):
        FileConnector([tmp_path / "empty.eml"]).list_resources()


def test_text_that_is_no_mail_is_quarantined(tmp_path):
    # A text file without header fields is kept raw as Unreadable, not refused.
    path = tmp_path / "notes.eml"
    path.write_bytes(mail.NOT_A_MAIL)
    [page] = drain(FileConnector([path]), str(path))
    [item] = page.changes
    assert isinstance(item, Unreadable) and item.raw == mail.NOT_A_MAIL


def test_bad_cursor_is_user_error():
    # A cursor that is no index is refused.
    path = DATA / "thunderbird-03-HTML.eml"
    with pytest.raises(UserError):
        drain(FileConnector([path]), str(path), "abc")


def test_nul_bytes_in_the_first_mbox_message_do_not_refuse_the_file(tmp_path):
    # A damaged first message is quarantined on its own; the good ones after it are read.
    path = tmp_path / "nul.mbox"
    path.write_bytes(
        b"From a@b Mon Nov  2 09:00:00 2026\nFrom: x\x00\x00@y\n\n\x00\x00\n\n"
        b"From a@b Mon Nov  2 09:00:00 2026\n" + mail.plain(2) + b"\n"
    )
    changes = [c for page in drain(FileConnector([path]), str(path)) for c in page.changes]
    assert len(changes) == 2
    assert isinstance(changes[0], Unreadable) and isinstance(changes[1], MailMessage)
