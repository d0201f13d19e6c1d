"""F13: one bad item in a page; the good ones are committed, the bad one quarantined.

A page of 100 messages holds one message the database refuses
(a constraint, a value too long for PostgreSQL) or whose FETCH answer cannot be parsed.
The other 99 are committed, the bad one is quarantined with the reason, the cursor moves
past both, and the next poll stores nothing twice. Runs on SQLite and PostgreSQL, over a
real Dovecot (the corrupted FETCH answer comes through a rewriting proxy in front of it).
"""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from crmsync.crm.models import Activity, Mailbox, QuarantinedItem, SyncState
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.run import sync_mailbox
from crmsync.sync_service.engine.store import PageWriter
from tests.conftest import Cli, load_sample_crm
from tests.connectors.fault_proxy import RewritingProxy
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.engine.mails import make_mail
from tests.servers.dovecot import DovecotServer

PAGE = 100
BAD = 37  # the position of the bad message in the page


def mails(bad: bytes) -> list[bytes]:
    """Return a page's worth of customer mail with ``bad`` at position :data:`BAD`."""
    return [bad if n == BAD else make_mail(n) for n in range(PAGE)]


def refuse(cli: Cli, word: str) -> None:
    """Make the database itself refuse an activity whose subject holds ``word``.

    A test-only constraint (a CHECK on PostgreSQL, a trigger on SQLite, which cannot add
    one to a table), so the row fails exactly as a real constraint violation does.
    """
    with cli.session() as session:
        if session.bind.dialect.name == "postgresql":
            session.execute(text(
                "ALTER TABLE activities ADD CONSTRAINT f13_refused"
                f" CHECK (subject NOT LIKE '%{word}%')"))
        else:
            session.execute(text(
                "CREATE TRIGGER f13_refused BEFORE INSERT ON activities"
                f" WHEN NEW.subject LIKE '%{word}%'"
                " BEGIN SELECT RAISE(ABORT, 'f13_refused: subject refused'); END"))
        session.commit()


def stored(cli: Cli) -> tuple[list[str], list[QuarantinedItem]]:
    """Return the stored activities' Message-IDs (duplicates kept) and the quarantine."""
    with cli.session() as session:
        ids = list(session.scalars(select(Activity.internet_message_id)))
        quarantined = list(session.scalars(select(QuarantinedItem)))
    return ids, quarantined


def dialect(cli: Cli) -> str:
    with cli.session() as session:
        return session.bind.dialect.name


def test_imap_row_the_database_refuses_is_quarantined_rest_committed(
        cli: Cli, dovecot: DovecotServer) -> None:
    # One mail of a 100-mail page violates a constraint: 99 stored, 1 quarantined with the
    # database's error, cursor past both; the next polls add only new mail.
    load_sample_crm(cli)
    user = new_user(dovecot)
    uids = dovecot.append_many(user, "INBOX", mails(make_mail(BAD, subject="POISON quote")))
    name = add_mailbox(cli, dovecot, user)
    refuse(cli, "POISON")
    out = sync(cli, name)
    assert ": ok:" in out and f"{PAGE - 1} captured" in out and "1 quarantined" in out
    ids, [item] = stored(cli)
    assert len(ids) == len(set(ids)) == PAGE - 1 and f"<m{BAD}@test.example>" not in ids
    assert item.item_id.endswith(f":{uids[BAD]}") and item.folder == "INBOX"
    assert item.reason.startswith("the database refused it") and "f13_refused" in item.reason
    assert b"Subject: POISON quote" in item.raw

    assert "captured" not in sync(cli, name) and stored(cli)[0] == ids  # nothing again
    dovecot.append_many(user, "INBOX", [make_mail(PAGE)])
    assert "1 captured" in sync(cli, name)
    ids, quarantined = stored(cli)
    assert len(ids) == len(set(ids)) == PAGE and len(quarantined) == 1


def test_imap_message_id_too_long_for_the_column(cli: Cli, dovecot: DovecotServer) -> None:
    # A hostile 1,200-character Message-ID is longer than the column holding it: PostgreSQL
    # refuses the row (SQLite keeps it). Either way all 100 mails are accounted for.
    load_sample_crm(cli)
    user = new_user(dovecot)
    long_id = "<" + "x" * 1200 + "@test.example>"
    dovecot.append_many(user, "INBOX", mails(make_mail(BAD, message_id=long_id)))
    name = add_mailbox(cli, dovecot, user)
    out = sync(cli, name)
    ids, quarantined = stored(cli)
    assert len(ids) == len(set(ids))
    if dialect(cli) == "postgresql":
        assert f"{PAGE - 1} captured" in out and "1 quarantined" in out
        [item] = quarantined
        assert "StringDataRightTruncation" in item.reason and long_id.encode() in item.raw
        assert len(ids) == PAGE - 1
    else:
        assert f"{PAGE} captured" in out and not quarantined
    assert "captured" not in sync(cli, name) and len(stored(cli)[0]) == len(ids)


def test_file_import_row_the_database_refuses_is_quarantined(cli: Cli, tmp_path: Path) -> None:
    # The same through `crmsync mail import`; importing the file again adds nothing.
    load_sample_crm(cli)
    path = tmp_path / "export.mbox"
    box = mailbox.mbox(path)
    for raw in mails(make_mail(BAD, subject="POISON quote")):
        box.add(raw)
    box.close()
    refuse(cli, "POISON")
    out = cli("mail", "import", str(path)).output
    assert f"{PAGE - 1} captured" in out and "1 quarantined" in out
    ids, [item] = stored(cli)
    assert len(ids) == len(set(ids)) == PAGE - 1 and "f13_refused" in item.reason
    assert b"Subject: POISON quote" in item.raw and item.origin == "file:export.mbox"
    cli("mail", "import", str(path))
    assert stored(cli)[0] == ids and len(stored(cli)[1]) == 1


def test_imap_fetch_answer_that_cannot_be_parsed(cli: Cli, dovecot: DovecotServer) -> None:
    # The server's FETCH answer about one message of 100 cannot be parsed (an empty
    # BODYSTRUCTURE): that message is fetched again alone, whole, and quarantined with the
    # raw message; the other 99 are stored and the cursor moves past all of them.
    load_sample_crm(cli)
    user = new_user(dovecot)
    uids = dovecot.append_many(user, "INBOX", mails(make_mail(BAD)))
    spoiled = f"(UID {uids[BAD]} RFC822.SIZE ".encode()

    def spoil(line: bytes) -> bytes:
        return line.replace(spoiled, spoiled.replace(b"RFC822", b"BODYSTRUCTURE () RFC822"))

    with RewritingProxy(dovecot.host, dovecot.port, spoil) as proxy:
        name = add_mailbox(cli, proxy, user)  # type: ignore[arg-type]
        out = sync(cli, name)
        assert ": ok:" in out and f"{PAGE - 1} captured" in out and "1 quarantined" in out
        ids, [item] = stored(cli)
        assert len(ids) == len(set(ids)) == PAGE - 1 and f"<m{BAD}@test.example>" not in ids
        assert item.item_id.endswith(f":{uids[BAD]}")
        assert "unparsable FETCH answer" in item.reason and "IndexError" in item.reason
        assert f"Message-ID: <m{BAD}@test.example>".encode() in item.raw  # the whole message
        assert "captured" not in sync(cli, name) and stored(cli)[0] == ids

    with cli.session() as session:
        assert session.scalar(select(func.count()).select_from(QuarantinedItem)) == 1


def test_item_by_item_pass_commits_nothing_before_its_cursor(
        cli: Cli, services: Services, dovecot: DovecotServer) -> None:
    # Storing a refused page item by item (SAVEPOINTs) is still one transaction with the
    # cursor: a crash late in that pass leaves no item stored (SQLite's driver would commit
    # at the first RELEASE if its transaction were not begun first), and the rerun stores
    # each once.
    load_sample_crm(cli)
    user = new_user(dovecot)
    dovecot.append_many(user, "INBOX", mails(make_mail(BAD, subject="POISON quote")))
    name = add_mailbox(cli, dovecot, user)

    def crash(_session: Session, _mailbox: Mailbox | None, writer: PageWriter) -> None:
        if any(s.mail.headers.get("message-id") == "<m90@test.example>" for s in writer.stored):
            raise RuntimeError("killed in the middle of the page")

    refuse(cli, "POISON")
    services.page_hooks.append(crash)
    with pytest.raises(RuntimeError, match="killed"):
        sync_mailbox(services, name)
    assert stored(cli) == ([], [])
    with cli.session() as session:  # the crash shows as an error, never as a good sync
        mailbox = session.scalars(select(Mailbox).where(Mailbox.name == name)).one()
        assert mailbox.status == "error" and "RuntimeError" in mailbox.last_error
        assert mailbox.last_sync_at is None
    with cli.session() as session:
        assert session.scalars(select(SyncState.cursor)).all() in ([], [None])

    services.page_hooks.remove(crash)
    report = sync_mailbox(services, name)
    assert report.counters["captured"] == PAGE - 1 and report.counters["quarantined"] == 1
    ids, quarantined = stored(cli)
    assert len(ids) == len(set(ids)) == PAGE - 1 and len(quarantined) == 1
