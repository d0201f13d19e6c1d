"""The fast FETCH parser gives exactly imapclient's answer: Dovecot's real responses, corpora."""

from __future__ import annotations

import mailbox
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient import response_parser as slow
from imapclient.exceptions import ProtocolError

from crmsync.connectors.imap import response as fast
from crmsync.connectors.imap.fetch import META_ITEMS
from tests.connectors import mail

#: real-world mail from other projects' test suites, one folder per project, vendored with
#: their sources (tests/data/mail-corpus/SOURCE.md)
CORPORA = Path(__file__).resolve().parent.parent / "data" / "mail-corpus"
#: the corpora holding whole mail messages (each file a message, or an mbox of them)
MAIL_CORPORA = ("thunderbird", "stalwart-mail-parser", "flanker", "mimekit", "crymap",
                "apache-ponymail")
#: what crmsync fetches, and what it never does (ENVELOPE, whole bodies) for good measure
ITEM_SETS = (
    META_ITEMS,
    ["UID", "BODY.PEEK[TEXT]<0.65536>", "BODY.PEEK[1]<0.65536>", "BODY.PEEK[1.1]<0.4096>"],
    ["UID", "FLAGS", "ENVELOPE", "BODY", "BODY.PEEK[]"],
)


def corpus_messages(limit_bytes: int = 2_000_000) -> Iterator[tuple[str, bytes]]:
    """Yield (name, raw) of every corpus message up to ``limit_bytes`` (mbox files split)."""
    for folder in MAIL_CORPORA:
        for path in sorted((CORPORA / folder).rglob("*")):
            if not path.is_file() or path.stat().st_size > limit_bytes:
                continue
            if path.suffix == ".mbox" or path.name.endswith(("mbox", ".mbx")):
                box = mailbox.mbox(str(path), create=False)
                try:
                    raws = [message.as_bytes() for message in box]
                finally:
                    box.close()
                for index, raw in enumerate(raws):
                    yield f"{path.name}#{index}", raw
            elif path.suffix in (".eml", ".msg", ".txt") and _looks_like_mail(path):
                yield path.name, path.read_bytes()


def _looks_like_mail(path: Path) -> bool:
    head = path.read_bytes()[:2000].lower()
    return b"\nsubject:" in head or head.startswith((b"from", b"received", b"return-path",
                                                      b"message-id", b"date", b"mime-version"))


def raw_fetch(client: IMAPClient, uids: str, items: list[str]) -> list:
    """Run ``UID FETCH`` and return imaplib's untagged data, as imapclient's fetch gets it."""
    imap = client._imap  # noqa: SLF001 - the raw answer is what both parsers read
    tag = imap._command("UID", "FETCH", uids, "(" + " ".join(items) + ")")  # noqa: SLF001
    typ, data = imap._command_complete("FETCH", tag)  # noqa: SLF001
    assert typ == "OK", data
    return imap._untagged_response(typ, data, "FETCH")[1]  # noqa: SLF001


def outcome(parse: Callable[..., object], data: list) -> object:
    """Return a parser's answer, or its error (type and text), to compare both."""
    try:
        return parse(data, False, True)
    except (ProtocolError, TypeError, ValueError) as exc:  # imapclient's errors stay its own
        return (type(exc).__name__, str(exc))


@pytest.fixture(scope="module")
def corpus_user(dovecot) -> str:
    """A Dovecot user whose INBOX holds every corpus message Dovecot accepts."""
    dovecot.add_user("corpus", "pw")
    appended = 0
    with dovecot.connect("corpus") as client:
        for _name, raw in corpus_messages():
            try:
                client.append("INBOX", raw, (b"\\Seen", b"$Label1"))
                appended += 1
            except IMAPClient.Error:
                pass
        # crmsync's own kinds too: multipart, attachments, encoded words, CJK
        for n in range(20):
            client.append("INBOX", mail.plain(n))
    assert appended > 250, f"only {appended} corpus messages reached the server"
    return "corpus"


@pytest.mark.parametrize("items", ITEM_SETS, ids=["meta", "sections", "envelope-whole"])
def test_same_answer_as_imapclient_on_corpora(dovecot, corpus_user, items):
    # Dovecot's real FETCH responses for hundreds of real-world messages: identical dicts.
    with dovecot.connect(corpus_user) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        for start in range(0, len(uids), 50):
            chunk = uids[start:start + 50]
            data = raw_fetch(client, f"{chunk[0]}:{chunk[-1]}", items)
            assert outcome(fast.parse_fetch_response, data) == \
                outcome(slow.parse_fetch_response, data)


def test_fast_path_taken_for_what_crmsync_fetches(dovecot, corpus_user):
    # The speed is real only if Dovecot's answers to crmsync's FETCH need no fallback.
    with dovecot.connect(corpus_user) as client:
        client.select_folder("INBOX", readonly=True)
        for items in ITEM_SETS[:2]:
            data = raw_fetch(client, "1:*", items)
            atoms = fast.parse_atoms(data)
            assert len(atoms) == 2 * len(client.search(["ALL"]))


@pytest.mark.parametrize("items", ITEM_SETS, ids=["meta", "sections", "envelope-whole"])
def test_fast_client_fetch_equals_imapclient_fetch(dovecot, corpus_user, items):
    # The session class crmsync uses (its own answer reader and parser) answers fetch()
    # exactly as imapclient's own, literals and all, for every corpus message.
    with dovecot.connect(corpus_user) as plain:
        plain.select_folder("INBOX", readonly=True)
        uids = plain.search(["ALL"])
        expected = plain.fetch(uids, items)
    client = fast.FastFetchClient(dovecot.host, dovecot.port, ssl=False, timeout=30)
    try:
        client.login(corpus_user, "pw")
        client.select_folder("INBOX", readonly=True)
        assert client.fetch(uids, items) == expected
        assert client.fetch([], items) == {}
    finally:
        client.logout()


def test_unsolicited_responses_during_a_fetch_are_kept_as_imaplib_keeps_them(dovecot, user):
    # Mail arriving mid-session makes Dovecot send "* n EXISTS" inside the FETCH answer:
    # the answer is still right, and the session still knows what it was told.
    for n in range(3):
        dovecot.append(user, "INBOX", mail.plain(n))
    client = fast.FastFetchClient(dovecot.host, dovecot.port, ssl=False, timeout=30)
    try:
        client.login(user, "pw")
        client.select_folder("INBOX")
        uids = client.search(["ALL"])
        client._imap.untagged_responses.clear()  # noqa: SLF001 - what the FETCH adds
        dovecot.append(user, "INBOX", mail.plain(99))
        with dovecot.connect(user) as other:  # a flag change seen by this session too
            other.select_folder("INBOX")
            other.add_flags([uids[0]], [b"$Seen-elsewhere"])
        answer = client.fetch(uids, ["UID", "FLAGS", "BODY.PEEK[TEXT]"])
        assert sorted(answer) == uids
        assert answer[uids[1]][b"BODY[TEXT]"] == b"body 1\r\n"
        assert b"$Seen-elsewhere" in answer[uids[0]][b"FLAGS"]
        assert client._imap.untagged_responses.get("EXISTS") == [b"4"]  # noqa: SLF001
        assert client.search(["ALL"])[-1] > uids[-1]  # the session goes on working
    finally:
        client.logout()


@pytest.mark.parametrize("data", [
    [b'1 (UID 7 FLAGS (\\Seen $Junk) RFC822.SIZE 0123 X-GM-LABELS ("a\\"b" "c\\\\d" "e\\f"))'],
    [(b'1 (UID 7 BODY[HEADER.FIELDS (FROM TO)] {5}', b'From:'), b' FLAGS ())'],
    [(b'1 (UID 7 BODY[] {3}', b'abc'), b')', b'2 (UID 8 FLAGS (NIL nil "NIL" 00 0))'],
    [b'1 (UID 7 X "a"b c"d")'],             # a quote glued to a word: imapclient refuses
    [b'1 (UID 7 X %)'],                      # a list wildcard
    [b'1 (UID 7 X a\x01b)'],                 # a control character
    [b'1 (UID 7 X [unclosed)'],
    [b'1 (UID 7 X "unclosed)'],
    [b'1 (UID 7 X (a b)'],                   # a tuple never closed
    [b'1 (UID 7 X a))'],                     # a stray parenthesis
    [b'1 (UID 7 X {5}', b'a)'],              # a literal marker without its literal
    [b'1 (UID 7 X {5} {x}', b')'],
    [(b'1 (UID 7 X {4}', b'abc'), b')'],    # a literal of the wrong size
    [(b'1 (UID 7 X', b'abc'), b')'],        # a literal without its marker
    [b'1 (UID x)'], [b'x (UID 7)'], [b'1 (UID 7 FLAGS)'], [b'1 UID'], [b'1'],
    [b'1 (UID 7 INTERNALDATE "02-Dec-2026 15:04:05 +0100")'],
    [b'1 (UID 7 INTERNALDATE "garbage")'],
    [b'1 (UID 7 BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 5 1))'],
    [b'1 (UID 7 BODYSTRUCTURE NIL)'],
    [None], [],
])
def test_same_answer_on_unusual_responses(data):
    # Odd but possible answers: the fast parser agrees, or hands over and imapclient decides.
    assert outcome(fast.parse_fetch_response, data) == outcome(slow.parse_fetch_response, data)
