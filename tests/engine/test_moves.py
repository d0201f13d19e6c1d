"""F6: a mail moved between synced folders stays one activity; only its folder changes."""

from __future__ import annotations

from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.engine.mails import make_mail
from tests.servers.dovecot import DovecotServer


def _folders(activity: dict) -> list[str]:
    return sorted(source["folder"] for source in activity["sources"])


def test_move_keeps_the_activity_and_updates_its_folder(cli: Cli, dovecot: DovecotServer) -> None:
    # A rep files a customer mail into "Customers": no duplicate, no deletion, new folder.
    load_sample_crm(cli)
    user = new_user(dovecot)
    with dovecot.connect(user) as client:
        client.create_folder("Customers")
    uid = dovecot.append(user, "INBOX", make_mail(1))
    dovecot.append(user, "INBOX", make_mail(2))
    name = add_mailbox(cli, dovecot, user, None, "--folders", "INBOX,Customers")
    sync(cli, name)
    before = {a["internet_message_id"]: a for a in cli.export_activities()}

    with dovecot.connect(user) as client:
        client.select_folder("INBOX")
        client.move([uid], "Customers")  # RFC 6851 MOVE (UIDPLUS gives the new UID)
    sync(cli, name)
    after = {a["internet_message_id"]: a for a in cli.export_activities()}
    assert after.keys() == before.keys()
    moved = after["<m1@test.example>"]
    assert moved["id"] == before["<m1@test.example>"]["id"]
    assert _folders(moved) == ["Customers"]
    assert moved["links"] == before["<m1@test.example>"]["links"]
    assert _folders(after["<m2@test.example>"]) == ["INBOX"]


def test_copy_then_expunge_without_move_is_the_same(cli: Cli, dovecot: DovecotServer) -> None:
    # Clients without MOVE copy, flag \Deleted and expunge: the result must not differ.
    load_sample_crm(cli)
    user = new_user(dovecot)
    with dovecot.connect(user) as client:
        client.create_folder("Customers")
    uid = dovecot.append(user, "INBOX", make_mail(1))
    name = add_mailbox(cli, dovecot, user, None, "--folders", "INBOX,Customers")
    sync(cli, name)
    [before] = cli.export_activities()
    with dovecot.connect(user) as client:
        client.select_folder("INBOX")
        client.copy([uid], "Customers")
        client.delete_messages([uid])
        client.expunge()
    sync(cli, name)
    [after] = cli.export_activities()
    assert after["id"] == before["id"]
    assert _folders(after) == ["Customers"]
