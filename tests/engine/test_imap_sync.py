"""The whole path against a real Dovecot: `crmsync mailbox add imap` → `sync --once` → export.

Runs on SQLite and PostgreSQL. Each test gets its own Dovecot user.
"""

from __future__ import annotations

from sqlalchemy import select

from crmsync.crm.models import ActivitySource, QuarantinedItem
from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.engine.mails import HANK, MARIA, TOM, make_mail, sample_mailbox
from tests.servers.dovecot import DovecotServer


def sources(cli: Cli) -> list[ActivitySource]:
    with cli.session() as session:
        return list(session.scalars(select(ActivitySource).order_by(ActivitySource.id)))


def message_ids(activities: list[dict]) -> list[str]:
    return sorted(a["internet_message_id"] for a in activities)


def test_initial_sync_captures_customer_mail_with_links(cli: Cli, dovecot: DovecotServer) -> None:
    # The demo mailbox served over IMAP gives the same result as the file import.
    load_sample_crm(cli)
    user = new_user(dovecot)
    for raw in sample_mailbox():
        dovecot.append(user, "INBOX", raw)
    name = add_mailbox(cli, dovecot, user)
    out = sync(cli, name)
    assert "ok" in out and "10 captured" in out
    activities = cli.export_activities()
    assert len(activities) == 10
    first = next(a for a in activities if a["internet_message_id"] == "<demo-001@mail.example>")
    assert {(x["type"], x["external_id"]) for x in first["links"]} == {
        ("contact", "c-1"), ("account", "acc-acme"), ("opportunity", "opp-1")
    }
    assert first["sources"][0]["mailbox"] == name
    assert first["sources"][0]["folder"] == "INBOX"

    listing = cli("mailbox", "list").output
    assert name in listing and " ok " in listing


def test_new_mail_flag_change_and_expunge(cli: Cli, dovecot: DovecotServer) -> None:
    # New mail arrives; a flag change updates the copy; an expunge removes the copy
    # from the mailbox but the customer's history keeps the activity.
    load_sample_crm(cli)
    user = new_user(dovecot)
    uids = [dovecot.append(user, "INBOX", make_mail(n)) for n in range(3)]
    name = add_mailbox(cli, dovecot, user)
    sync(cli, name)
    assert len(cli.export_activities()) == 3

    dovecot.append(user, "INBOX", make_mail(3, sender=TOM))
    assert "1 captured" in sync(cli, name)
    assert len(cli.export_activities()) == 4

    with dovecot.connect(user) as client:
        client.select_folder("INBOX")
        client.add_flags([uids[0]], [b"\\Flagged"])
    sync(cli, name)
    flagged = [s for s in sources(cli) if s.item_id.endswith(f":{uids[0]}")]
    assert "\\Flagged" in flagged[0].flags

    with dovecot.connect(user) as client:
        client.select_folder("INBOX")
        client.delete_messages([uids[1]])
        client.expunge()
    sync(cli, name)
    assert len(cli.export_activities()) == 4
    assert len(sources(cli)) == 3
    assert not [s for s in sources(cli) if s.item_id.endswith(f":{uids[1]}")]


def test_no_change_poll_changes_nothing(cli: Cli, dovecot: DovecotServer) -> None:
    # Polling an unchanged mailbox stores nothing new and reports no changes.
    load_sample_crm(cli)
    user = new_user(dovecot)
    for n in range(5):
        dovecot.append(user, "INBOX", make_mail(n))
    name = add_mailbox(cli, dovecot, user)
    sync(cli, name)
    before = cli.export_activities()
    out = sync(cli, name)
    assert "captured" not in out
    assert cli.export_activities() == before


def test_uidvalidity_reset_creates_no_duplicate(cli: Cli, dovecot: DovecotServer) -> None:
    # F5: the same messages under a new UIDVALIDITY are re-matched, not doubled or deleted;
    # a genuinely new message under the same folder name is ingested.
    load_sample_crm(cli)
    user = new_user(dovecot)
    with dovecot.connect(user) as client:
        client.create_folder("Customers")
    for n in range(6):
        dovecot.append(user, "Customers", make_mail(n))
    name = add_mailbox(cli, dovecot, user, None, "--folders", "Customers")
    sync(cli, name)
    before = cli.export_activities()
    old_items = {s.item_id for s in sources(cli)}

    dovecot.reset_uidvalidity(user, "Customers")
    dovecot.append(user, "Customers", make_mail(99, sender=HANK))
    out = sync(cli, name)
    assert "1 captured" in out
    after = cli.export_activities()
    assert len(after) == len(before) + 1
    assert message_ids(after) == sorted(message_ids(before) + ["<m99@test.example>"])
    new_items = {s.item_id for s in sources(cli)}
    assert len(new_items) == 7 and not new_items & old_items

    # A sync after the resync is a plain poll again.
    assert "captured" not in sync(cli, name)


def test_one_message_in_two_mailboxes_is_one_activity(cli: Cli, dovecot: DovecotServer) -> None:
    # Maria and Wei both received the mail: one activity, both recipients, two sources.
    load_sample_crm(cli)
    raw = make_mail(1, to=(MARIA, ("Zhang Wei", "wei.zhang@northwind.example")))
    maria, wei = new_user(dovecot), new_user(dovecot)
    dovecot.append(maria, "INBOX", raw)
    dovecot.append(wei, "INBOX", raw)
    add_mailbox(cli, dovecot, maria)
    add_mailbox(cli, dovecot, wei)
    cli("sync", "--once")
    activities = cli.export_activities()
    assert len(activities) == 1
    assert sorted(s["mailbox"] for s in activities[0]["sources"]) == sorted([maria, wei])
    roles = {(p["address"], p["role"]) for p in activities[0]["participants"]}
    assert ("wei.zhang@northwind.example", "to") in roles


def test_server_without_condstore(cli: Cli, dovecot_without_condstore: DovecotServer) -> None:
    # Microsoft 365's IMAP has no CONDSTORE: new mail and expunges are still found.
    server = dovecot_without_condstore
    load_sample_crm(cli)
    user = new_user(server)
    uids = [server.append(user, "INBOX", make_mail(n)) for n in range(4)]
    name = add_mailbox(cli, server, user)
    sync(cli, name)
    server.append(user, "INBOX", make_mail(10))
    with server.connect(user) as client:
        client.select_folder("INBOX")
        client.delete_messages([uids[0]])
        client.expunge()
    assert "1 captured" in sync(cli, name)
    assert len(cli.export_activities()) == 5
    assert len(sources(cli)) == 4


MALFORMED = (
    b"From: \r\nTo: maria.lopez@northwind.example\r\nSubject: broken\r\n"
    b"Content-Type: multipart/mixed; boundary=\"nope\"\r\n\r\n--nope\r\nno end"
)


def test_malformed_mail_is_quarantined_and_the_batch_goes_on(
    cli: Cli, dovecot: DovecotServer
) -> None:
    # A mail with no usable sender is kept raw with its reason; the mails around it sync.
    load_sample_crm(cli)
    user = new_user(dovecot)
    dovecot.append(user, "INBOX", make_mail(1))
    dovecot.append(user, "INBOX", MALFORMED)
    dovecot.append(user, "INBOX", make_mail(2))
    name = add_mailbox(cli, dovecot, user)
    out = sync(cli, name)
    assert "2 captured" in out and "1 quarantined" in out
    with cli.session() as session:
        item = session.scalars(select(QuarantinedItem)).one()
    assert item.reason and item.folder == "INBOX"
    assert b"Subject: broken" in item.raw
    assert len(cli.export_activities()) == 2


def test_wrong_password_marks_the_mailbox_and_says_why(cli: Cli, dovecot: DovecotServer) -> None:
    # An admin sees "needs re-auth" and the server's answer, not a traceback.
    load_sample_crm(cli)
    user = new_user(dovecot)
    cli(
        "mailbox", "add", "imap", "bad", "--host", dovecot.host, "--port", str(dovecot.port),
        "--security", "none", "--username", user, "--password-env", "PW",
        env={"PW": "wrong"},
    )
    result = cli("sync", "--once", ok=False)
    assert result.exit_code == 2
    assert "needs re-auth" in result.output
    assert "needs re-auth" in cli("mailbox", "list").output
