"""QRESYNC (RFC 7162) against a real Dovecot: expunges and flag changes come with EXAMINE.

The same scenarios run against the Dovecot without CONDSTORE/QRESYNC, which finds them
the RFC 4549 way: the observable result (the Deletions) is the same, the cost is not.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from crmsync.connectors.base import Deletion, FlagsChanged, MailMessage
from crmsync.connectors.imap.cursor import ImapCursor
from tests.connectors import mail
from tests.connectors.test_imap import drain, fill, message_ids, records


def expunge(server, user, uids, folder="INBOX"):
    with server.connect(user) as client:
        client.select_folder(folder)
        client.delete_messages(list(uids))
        client.expunge()


def deleted_uids(changes) -> list[int]:
    return [int(c.item_id.split(":")[1]) for c in changes if isinstance(c, Deletion)]


@pytest.mark.parametrize("size", [30, 300])
def test_expunge_poll_is_one_examine_at_any_size(dovecot, user, connect, imap_commands, size):
    # Every third message expunged (a known-UID set full of holes): with QRESYNC the poll
    # is the EXAMINE alone, at 30 messages as at 300, and names exactly the expunged ones.
    uids = fill(dovecot, user, size)
    connector = connect(dovecot, user)
    cursor = drain(connector)[-1].cursor
    gone = uids[::3]
    expunge(dovecot, user, gone)
    imap_commands.clear()
    pages = drain(connector, cursor=cursor)
    assert imap_commands.commands == ["EXAMINE"]
    assert "(QRESYNC (" in imap_commands.lines[0]
    assert deleted_uids(records(pages)) == gone and len(records(pages)) == len(gone)
    # the cursor forgot them: the next poll is a no-change poll, one EXAMINE again
    imap_commands.clear()
    assert records(drain(connector, cursor=pages[-1].cursor)) == []
    assert imap_commands.commands == ["EXAMINE"]
    assert ImapCursor.loads(pages[-1].cursor).uids == frozenset(uids) - set(gone)


def test_without_qresync_the_same_expunges_cost_a_search(
    dovecot_without_condstore, new_user, connect, imap_commands
):
    # The RFC 4549 path reports the same Deletions, by a UID SEARCH of every known UID.
    server = dovecot_without_condstore
    user = new_user(server)
    uids = fill(server, user, 30)
    connector = connect(server, user)
    cursor = drain(connector)[-1].cursor
    expunge(server, user, uids[::3])
    imap_commands.clear()
    pages = drain(connector, cursor=cursor)
    assert imap_commands.commands == ["EXAMINE", "UID SEARCH"]
    assert "QRESYNC" not in imap_commands.lines[0]
    assert deleted_uids(records(pages)) == uids[::3]


def test_flag_change_comes_with_the_examine(dovecot, user, connect, imap_commands):
    # A re-flagged message is reported from the EXAMINE's FETCH answer: no SEARCH, no FETCH.
    uids = fill(dovecot, user, 5)
    connector = connect(dovecot, user)
    cursor = drain(connector)[-1].cursor
    uidvalidity = ImapCursor.loads(cursor).uidvalidity
    with dovecot.connect(user) as client:
        client.select_folder("INBOX")
        client.add_flags([uids[1], uids[3]], [b"\\Flagged"])
        client.add_flags([uids[3]], [b"\\Seen"])
    imap_commands.clear()
    changes = records(drain(connector, cursor=cursor))
    assert imap_commands.commands == ["EXAMINE"]
    assert changes == [
        FlagsChanged(f"{uidvalidity}:{uids[1]}", "INBOX", ("\\Flagged",)),
        FlagsChanged(f"{uidvalidity}:{uids[3]}", "INBOX", ("\\Flagged", "\\Seen")),
    ]


def test_expunge_flag_change_and_new_mail_in_one_poll(dovecot, user, connect, imap_commands):
    # Deletions, then flag changes, then new mail; a message that arrived and vanished
    # between two polls (VANISHED names a UID never yielded) is no Deletion.
    uids = fill(dovecot, user, 4)
    connector = connect(dovecot, user)
    cursor = drain(connector)[-1].cursor
    uidvalidity = ImapCursor.loads(cursor).uidvalidity
    passing = dovecot.append(user, "INBOX", mail.plain(50))
    with dovecot.connect(user) as client:
        client.select_folder("INBOX")
        client.add_flags([uids[0]], [b"\\Answered"])
    expunge(dovecot, user, [uids[2], passing])
    fill(dovecot, user, 2, start=10)
    imap_commands.clear()
    changes = records(drain(connector, cursor=cursor))
    assert imap_commands.commands[:2] == ["EXAMINE", "UID SEARCH"]  # the new UIDs only
    assert "UID SEARCH" not in imap_commands.commands[2:]
    assert changes[:2] == [
        Deletion(f"{uidvalidity}:{uids[2]}", "INBOX"),
        FlagsChanged(f"{uidvalidity}:{uids[0]}", "INBOX", ("\\Answered",)),
    ]
    assert [c.headers["message-id"] for c in changes[2:]] == ["<m10@test>", "<m11@test>"]
    assert all(isinstance(c, MailMessage) for c in changes[2:])


def test_cursor_written_before_qresync_still_polls(dovecot, user, connect, imap_commands):
    # A cursor as the connector wrote it before QRESYNC (the same JSON, spelled out here)
    # resumes: its mod-sequence starts the QRESYNC EXAMINE and expunges are found.
    uids = fill(dovecot, user, 6)
    with dovecot.connect(user) as client:
        client.enable("CONDSTORE")  # Dovecot reports HIGHESTMODSEQ only then
        folder = client.select_folder("INBOX", readonly=True)
    written = json.dumps({
        "v": 1, "uidvalidity": folder[b"UIDVALIDITY"], "uidnext": folder[b"UIDNEXT"],
        "exists": 6, "modseq": folder[b"HIGHESTMODSEQ"], "uids": f"{uids[0]}:{uids[-1]}",
        "backfill_below": None, "since": None,
    }, separators=(",", ":"))
    expunge(dovecot, user, [uids[4]])
    imap_commands.clear()
    pages = drain(connect(dovecot, user), cursor=written)
    assert imap_commands.commands[-1:] == ["EXAMINE"]  # after the login's commands
    assert "(QRESYNC (" in imap_commands.lines[-1]
    assert deleted_uids(records(pages)) == [uids[4]]


def test_cursor_without_modseq_falls_back_to_rfc4549(dovecot, user, connect, imap_commands):
    # A cursor made without CONDSTORE has no mod-sequence for QRESYNC to start from:
    # the poll finds the expunge by EXISTS and a UID SEARCH, as before.
    uids = fill(dovecot, user, 3)
    connector = connect(dovecot, user)
    head = ImapCursor.loads(drain(connector)[-1].cursor)
    cursor = ImapCursor(head.uidvalidity, head.uidnext, head.exists, None, head.uids).dumps()
    expunge(dovecot, user, [uids[1]])
    imap_commands.clear()
    pages = drain(connector, cursor=cursor)
    assert imap_commands.commands[:2] == ["EXAMINE", "UID SEARCH"]
    assert "QRESYNC" not in imap_commands.lines[0]
    assert deleted_uids(records(pages)) == [uids[1]]


def test_uidvalidity_change_under_qresync_resyncs(dovecot, user, connect):
    # The server ignores QRESYNC parameters of another UIDVALIDITY; the poll resyncs.
    dovecot.create_folder(user, "Work")
    fill(dovecot, user, 2, folder="Work")
    connector = connect(dovecot, user, folders=("Work",))
    before = drain(connector, "Work")
    time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
    dovecot.reset_uidvalidity(user, "Work")
    pages = drain(connector, "Work", before[-1].cursor)
    assert pages[0].resync
    assert sorted(message_ids(pages[1:])) == sorted(message_ids(before))


def test_idle_wakes_on_expunge_reported_as_vanished(dovecot, user, connect):
    # With QRESYNC enabled an expunge arrives as "* VANISHED", not "* n EXPUNGE".
    uids = fill(dovecot, user, 2)
    connector = connect(dovecot, user)
    drain(connector)
    timer = threading.Timer(0.2, expunge, (dovecot, user, [uids[0]]))
    timer.start()
    assert connector.idle_wait("INBOX", timeout=10) is True
    timer.join()
