"""ImapConnector against a real Dovecot: first sync, resume, polls, resync, bodies, TLS."""

from __future__ import annotations

import re
import threading
import time
from datetime import date, datetime

import pytest

from crmsync.connectors.base import Deletion, FlagsChanged, MailMessage, Page, Unreadable
from crmsync.connectors.imap.cursor import ImapCursor
from crmsync.connectors.mime import parse_message
from crmsync.errors import AuthError, CursorExpiredError, TransientError
from tests.conftest import SENT_SPECIAL
from tests.connectors import mail
from tests.servers import free_port


def drain(connector, folder="INBOX", cursor=None) -> list[Page]:
    return list(connector.fetch_changes(folder, cursor))


def records(pages: list[Page]) -> list:
    return [change for page in pages for change in page.changes]


def message_ids(pages: list[Page]) -> list[str]:
    return [c.headers["message-id"] for c in records(pages) if isinstance(c, MailMessage)]


def fill(server, user, count, folder="INBOX", start=0):
    return server.append_many(user, folder, [mail.plain(n) for n in range(start, start + count)])


def test_first_sync_in_arrival_order_within_window(dovecot, user, connect):
    # Messages received before `since` are left out; the rest come oldest first, so a
    # reply follows the mail it answers.
    for n in range(6):
        dovecot.append(user, "INBOX", mail.plain(n), internal_date=datetime(2024, 3, 1 + n, 12))
    pages = drain(connect(dovecot, user, since=date(2024, 3, 3), batch_size=2))
    assert message_ids(pages) == [f"<m{n}@test>" for n in (2, 3, 4, 5)]
    assert [len(p.changes) for p in pages] == [2, 2]
    last = records(pages)[-1]
    assert last.received_at == datetime.fromisoformat("2024-03-06T12:00:00").astimezone()
    assert last.folder_role == "inbox" and last.body_text == "body 5\n"
    assert last.item_id == f"{ImapCursor.loads(pages[-1].cursor).uidvalidity}:6"


def test_first_sync_newest_window_first(dovecot, user, connect):
    # A large mailbox reaches the CRM newest window first: the newest 3, then the 3
    # before them, each window oldest first; resuming mid-window loses and doubles nothing.
    fill(dovecot, user, 7)
    connector = connect(dovecot, user, batch_size=2, backfill_window=3)
    pages = drain(connector)
    order = [f"<m{n}@test>" for n in (4, 5, 6, 1, 2, 3, 0)]
    assert message_ids(pages) == order
    assert [len(p.changes) for p in pages] == [2, 1, 2, 1, 1]
    for index, page in enumerate(pages):
        rest = message_ids(drain(connector, cursor=page.cursor))
        assert sorted(message_ids(pages[: index + 1]) + rest) == sorted(order)
        assert len(set(rest)) == len(rest) and not set(rest) & set(message_ids(pages[: index + 1]))


def test_empty_folder_yields_one_empty_page(dovecot, user, connect):
    # A first sync of an empty folder still returns a cursor to poll from.
    pages = drain(connect(dovecot, user))
    assert [p.changes for p in pages] == [[]]
    assert ImapCursor.loads(pages[0].cursor).backfill_below is None


def test_inbox_and_sent_found_by_special_use(dovecot, user, connect):
    # The folder flagged \Sent wins over a folder merely called "Sent".
    dovecot.create_folder(user, "Sent")
    dovecot.create_folder(user, SENT_SPECIAL, special_use="\\Sent")
    dovecot.append(user, SENT_SPECIAL, mail.plain(1))
    connector = connect(dovecot, user)
    assert connector.list_resources() == ["INBOX", SENT_SPECIAL]
    assert records(drain(connector, SENT_SPECIAL))[0].folder_role == "sent"


@pytest.mark.parametrize("name", ["Sent Items", "Gesendet", "已发送", "Archive.Sent"])
def test_sent_found_by_name(dovecot, user, connect, name):
    # Without SPECIAL-USE the Sent folder is recognised by its (last) name component.
    dovecot.create_folder(user, "Drafts")
    dovecot.create_folder(user, name)
    assert connect(dovecot, user).list_resources() == ["INBOX", name]


def test_explicit_folders_win(dovecot, user, connect):
    # The folders setting replaces discovery.
    dovecot.create_folder(user, "Work")
    assert connect(dovecot, user, folders=("Work",)).list_resources() == ["Work"]


def test_resume_from_every_page_cursor(dovecot, user, connect):
    # Resuming from any page's cursor yields exactly the rest: no UID twice, none missed.
    fill(dovecot, user, 10)
    connector = connect(dovecot, user, batch_size=3)
    pages = drain(connector)
    everything = message_ids(pages)
    assert len(everything) == 10 and len(set(everything)) == 10
    for index, page in enumerate(pages):
        rest = message_ids(drain(connector, cursor=page.cursor))
        assert message_ids(pages[: index + 1]) + rest == everything


def test_mail_arriving_during_backfill_is_caught_up_in_the_same_run(dovecot, user, connect):
    # UIDs at or above the UIDNEXT seen at start come after the backfill, newest-first
    # history first, then the catch-up poll: the run ends caught up, nothing left over.
    fill(dovecot, user, 4)
    connector = connect(dovecot, user, batch_size=2)
    pages = connector.fetch_changes("INBOX", None)
    first = next(pages)
    dovecot.append(user, "INBOX", mail.plain(99))
    rest = list(pages)
    got = message_ids([first, *rest])
    assert got[-1] == "<m99@test>" and len(got) == 5 and len(set(got)) == 5
    assert message_ids(drain(connector, cursor=rest[-1].cursor)) == []


def test_no_change_poll_is_one_select(dovecot, user, connect, imap_commands):
    # An unchanged folder is answered from EXAMINE alone: one command, one empty page.
    fill(dovecot, user, 3)
    connector = connect(dovecot, user)
    cursor = drain(connector)[-1].cursor
    imap_commands.commands.clear()
    pages = drain(connector, cursor=cursor)
    assert imap_commands.commands == ["EXAMINE"]
    assert [(p.changes, p.cursor) for p in pages] == [([], cursor)]


def test_new_mail_flag_change_and_expunge(dovecot, user, connect):
    # A poll reports expunges, re-flagged messages and new mail (ascending).
    uids = fill(dovecot, user, 4)
    connector = connect(dovecot, user)
    cursor = drain(connector)[-1].cursor
    uidvalidity = ImapCursor.loads(cursor).uidvalidity
    with dovecot.connect(user) as client:
        client.select_folder("INBOX")
        client.add_flags([uids[0]], [b"\\Flagged"])
        client.delete_messages([uids[1]])
        client.expunge()
    fill(dovecot, user, 2, start=10)
    changes = records(drain(connector, cursor=cursor))
    assert changes[:2] == [
        Deletion(f"{uidvalidity}:{uids[1]}", "INBOX"),
        FlagsChanged(f"{uidvalidity}:{uids[0]}", "INBOX", ("\\Flagged",)),
    ]
    assert [c.headers["message-id"] for c in changes[2:]] == ["<m10@test>", "<m11@test>"]


def test_poll_pages_resume(dovecot, user, connect):
    # New mail in several pages: resuming from the middle yields the rest only once.
    fill(dovecot, user, 1)
    connector = connect(dovecot, user, batch_size=2)
    cursor = drain(connector)[-1].cursor
    fill(dovecot, user, 5, start=20)
    pages = drain(connector, cursor=cursor)
    assert [len(p.changes) for p in pages] == [2, 2, 1]
    assert message_ids(drain(connector, cursor=pages[0].cursor)) == message_ids(pages[1:])
    assert records(drain(connector, cursor=pages[-1].cursor)) == []


def test_expunge_of_message_outside_window_reports_nothing(dovecot, user, connect):
    # An old message outside the window vanishing makes a SEARCH but no Deletion.
    old = dovecot.append(user, "INBOX", mail.plain(1), internal_date=datetime(2001, 1, 1))
    fill(dovecot, user, 1, start=2)
    connector = connect(dovecot, user, since=date(2020, 1, 1))
    cursor = drain(connector)[-1].cursor
    with dovecot.connect(user) as client:
        client.select_folder("INBOX")
        client.delete_messages([old])
        client.expunge()
    pages = drain(connector, cursor=cursor)
    assert records(pages) == []
    assert drain(connector, cursor=pages[-1].cursor)[0].cursor == pages[-1].cursor


def test_uidvalidity_change_resyncs(dovecot, user, connect):
    # A recreated folder: a resync page deleting every old id, then the mail again.
    dovecot.create_folder(user, "Work")
    fill(dovecot, user, 3, folder="Work")
    connector = connect(dovecot, user, folders=("Work",))
    before = drain(connector, "Work")
    with dovecot.connect(user) as client:
        client.delete_folder("Work")
    time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
    dovecot.create_folder(user, "Work")
    fill(dovecot, user, 3, folder="Work")
    pages = drain(connector, "Work", before[-1].cursor)
    assert pages[0].resync and not any(p.resync for p in pages[1:])
    assert sorted(c.item_id for c in pages[0].changes) == sorted(c.item_id for c in records(before))
    assert all(isinstance(c, Deletion) for c in pages[0].changes)
    assert sorted(message_ids(pages[1:])) == sorted(message_ids(before))


def test_server_without_condstore(dovecot_without_condstore, new_user, connect):
    # Without CONDSTORE new mail and expunges are still found; flag changes are not.
    server = dovecot_without_condstore
    user = new_user(server)
    uids = fill(server, user, 3)
    connector = connect(server, user)
    cursor = drain(connector)[-1].cursor
    assert ImapCursor.loads(cursor).modseq is None
    with server.connect(user) as client:
        client.select_folder("INBOX")
        client.add_flags([uids[0]], [b"\\Seen"])
        client.delete_messages([uids[2]])
        client.expunge()
    fill(server, user, 1, start=7)
    changes = records(drain(connector, cursor=cursor))
    assert [type(c).__name__ for c in changes] == ["Deletion", "MailMessage"]
    assert changes[0].item_id.endswith(f":{uids[2]}")


BODIES = {
    "plain": (mail.plain(1, body="hello plain"), "hello plain\n"),
    "alternative": (mail.alternative(), "plain version"),
    "html-only": (mail.html_only(), "Hello Ana & team\n\nsecond line"),
    "gb2312-base64": (mail.gb2312_base64(), "你好，世界。客户：张三 镕"),
    "quoted-printable": (
        mail.quoted_printable(),
        "Grüße aus München, this line is long and soft-broken.\n",
    ),
}


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_text_body_decoded(dovecot, user, connect, kind):
    # The text part is found by BODYSTRUCTURE and decoded like a file import would.
    raw, expected = BODIES[kind]
    dovecot.append(user, "INBOX", raw)
    [message] = records(drain(connect(dovecot, user)))
    assert message.body_text == expected
    from_file = parse_message(raw, item_id="x", folder="INBOX")
    assert message.content_hash == from_file.content_hash


def test_attachment_metadata_without_fetching_it(dovecot, user, connect):
    # A 200 KB attachment is described, never downloaded: Dovecot counts the bytes sent.
    dovecot.append(user, "INBOX", mail.with_attachment(200_000))
    connector = connect(dovecot, user)
    [message] = records(drain(connector))
    connector.close()
    [attachment] = message.attachments
    assert attachment.filename == "Angebot ü.pdf" and attachment.content_type == "application/pdf"
    assert 190_000 < attachment.size < 210_000
    assert message.body_text == "see attached" and message.size > 270_000
    time.sleep(0.2)  # the logout line is written after the connection closes
    logout = [line for line in dovecot.log.splitlines() if f"imap({user})" in line][-1]
    assert int(re.search(r" out=(\d+)", logout).group(1)) < 20_000


def test_malformed_message_is_unreadable_batch_goes_on(dovecot, user, connect):
    # A message without header fields is quarantined raw; the others still come.
    fill(dovecot, user, 1)
    bad = dovecot.append(user, "INBOX", mail.NOT_A_MAIL)
    fill(dovecot, user, 1, start=5)
    changes = records(drain(connect(dovecot, user)))
    assert [type(c).__name__ for c in changes] == ["MailMessage", "Unreadable", "MailMessage"]
    assert changes[1].item_id.endswith(f":{bad}")
    assert changes[1].raw == mail.NOT_A_MAIL and "no mail header fields" in changes[1].reason


def test_oversized_message_is_unreadable_without_body(dovecot, user, connect):
    # Over max_message_bytes: Unreadable holding only the header block.
    dovecot.append(user, "INBOX", mail.with_attachment(50_000))
    [item] = records(drain(connect(dovecot, user, max_message_bytes=10_000)))
    assert isinstance(item, Unreadable) and "exceeds the limit" in item.reason
    assert item.raw.startswith(b"From: a@example.com") and len(item.raw) < 500


def test_long_text_is_cut_and_marked(dovecot, user, connect):
    # Only max_text_bytes of the text part are fetched; the cut is marked.
    dovecot.append(user, "INBOX", mail.plain(1, body="x" * 5000))
    [message] = records(drain(connect(dovecot, user, max_text_bytes=1000)))
    assert message.body_text.startswith("x" * 1000) and message.body_text.endswith("truncated]")


def test_ssl_login_with_private_ca(dovecot_tls, new_user, connect):
    # Implicit TLS on the imaps port, trusting the test CA.
    user = new_user(dovecot_tls)
    dovecot_tls.append(user, "INBOX", mail.plain(1))
    context = dovecot_tls.client_ssl_context()
    connector = connect(
        dovecot_tls, user, security="ssl", ssl_context=context, port=dovecot_tls.imaps_port
    )
    assert message_ids(drain(connector)) == ["<m1@test>"]


def test_starttls_login_with_private_ca(dovecot_tls, new_user, connect):
    # STARTTLS on the plain port.
    user = new_user(dovecot_tls)
    connector = connect(
        dovecot_tls, user, security="starttls", ssl_context=dovecot_tls.client_ssl_context()
    )
    assert connector.list_resources() == ["INBOX"]


def test_untrusted_certificate_is_refused(dovecot_tls, new_user, connect):
    # Without the CA the TLS handshake fails (retryable: the admin may fix the cert).
    user = new_user(dovecot_tls)
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        connect(dovecot_tls, user, security="starttls").list_resources()


def test_wrong_password_is_auth_error(dovecot, user, connect):
    # The server's refusal text is kept for the admin console.
    with pytest.raises(AuthError, match="AUTHENTICATIONFAILED|Authentication failed"):
        connect(dovecot, user, secret="wrong").list_resources()


def test_unsupported_xoauth2_is_auth_error(dovecot, user, connect):
    # This Dovecot offers no XOAUTH2: the refusal is an AuthError, not a crash.
    with pytest.raises(AuthError):
        connect(dovecot, user, auth="xoauth2", secret="token").list_resources()


def test_unreachable_server_is_transient(connect, dovecot, user):
    # Nothing listens on the port: a retryable error.
    connector = connect(dovecot, user, port=free_port(), timeout=2.0)
    with pytest.raises(TransientError):
        connector.list_resources()


def test_garbage_cursor_means_resync(dovecot, user, connect):
    # A cursor that cannot be read is rejected as expired, so the engine resyncs.
    with pytest.raises(CursorExpiredError):
        drain(connect(dovecot, user), cursor='{"v": 99}')


def test_idle_wait_wakes_on_new_mail(dovecot, user, connect):
    # IDLE returns True soon after an APPEND, False on timeout.
    connector = connect(dovecot, user)
    assert connector.idle_wait("INBOX", timeout=0.3) is False
    timer = threading.Timer(0.2, dovecot.append, (user, "INBOX", mail.plain(1)))
    timer.start()
    started = time.monotonic()
    assert connector.idle_wait("INBOX", timeout=10) is True
    assert time.monotonic() - started < 5
    timer.join()
    assert message_ids(drain(connector)) == ["<m1@test>"]


def test_notify_wakes_on_mail_in_any_watched_folder(dovecot, user, connect):
    # NOTIFY (RFC 5465): one connection waits on the Inbox and "Work"; mail arriving in
    # "Work" ends the wait, mail in an unwatched folder does not.
    dovecot.create_folder(user, "Work")
    dovecot.create_folder(user, "Other")
    connector = connect(dovecot, user)
    assert connector.can_watch_many() is True
    assert connector.idle_wait_many(["INBOX", "Work"], timeout=0.3) is False
    timer = threading.Timer(0.2, dovecot.append, (user, "Other", mail.plain(1)))
    timer.start()
    assert connector.idle_wait_many(["INBOX", "Work"], timeout=1.5) is False
    timer.join()
    for n in (2, 3):  # and again on the same session (Dovecot loses it after a re-SET)
        timer = threading.Timer(0.2, dovecot.append, (user, "Work", mail.plain(n)))
        timer.start()
        started = time.monotonic()
        assert connector.idle_wait_many(["INBOX", "Work"], timeout=10) is True
        assert time.monotonic() - started < 5
        timer.join()


def test_without_notify_one_folder_per_connection(dovecot_without_condstore, new_user, connect):
    # A server without NOTIFY: the connector says so, and the caller IDLEs per folder.
    connector = connect(dovecot_without_condstore, new_user(dovecot_without_condstore))
    assert connector.can_watch_many() is False


def test_unparsable_text_answer_for_one_message_quarantines_only_it(dovecot, user, connect):
    # F13: the answer about one message's text cannot be parsed (an empty BODYSTRUCTURE
    # slipped into it, through a rewriting proxy): the batch's texts are fetched again one
    # by one and only that message is Unreadable, whole; the other 99 keep their text.
    from tests.connectors.fault_proxy import RewritingProxy

    uids = fill(dovecot, user, 100)
    spoiled = f"(UID {uids[37]} BODY[TEXT]".encode()

    def spoil(line: bytes) -> bytes:
        return line.replace(spoiled, spoiled.replace(b"BODY[", b"BODYSTRUCTURE () BODY["))

    with RewritingProxy(dovecot.host, dovecot.port, spoil) as proxy:
        changes = records(drain(connect(proxy, user, batch_size=100)))
    bad = [c for c in changes if isinstance(c, Unreadable)]
    good = [c for c in changes if isinstance(c, MailMessage)]
    assert len(changes) == 100 and len(good) == 99 and len(bad) == 1
    assert bad[0].item_id.endswith(f":{uids[37]}") and "unparsable FETCH answer" in bad[0].reason
    assert bad[0].raw == mail.plain(37)
    assert all(c.body_text == f"body {c.headers['message-id'][2:-6]}\n" for c in good)
