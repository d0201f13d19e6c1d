"""Exchange Server mail end to end: `crmsync mailbox add ews` + `crmsync sync` against the
EWS double, driven by the real exchangelib."""

from __future__ import annotations

import json

from tests.conftest import Cli, load_sample_crm
from tests.ews.helpers import add_ews_mailbox, mail_ids, mime, sync
from tests.fakes.ews_server import EwsDouble


def test_first_sync_then_moves_deletes_and_read_state_like_the_other_connectors(
        cli: Cli, ews: EwsDouble) -> None:
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--folders", "inbox,sentitems,Deals")
    box = ews.mailbox(address)
    box.add_folder("Deals")
    ids = [box.add_item("inbox", mime=mime(n)) for n in range(5)]
    box.add_item("sentitems", mime=mime(9, sender=("Maria Lopez",
                                                     "maria.lopez@northwind.example"),
                                          to=("Ana Ruiz", "ana.ruiz@acme.example")))
    out = sync(cli, ews, name)
    assert "ok" in out
    assert mail_ids(cli) == sorted([f"<ews-{n}@acme.example>" for n in range(5)]
                                   + ["<ews-9@acme.example>"])
    # Nothing changed: one SyncFolderItems per folder, nothing else.
    before = len(ews.operations(address))
    sync(cli, ews, name)
    since = ews.operations(address)[before:]
    # The cursors carry each folder's id: no GetFolder/FindFolder lookups either.
    assert since == ["SyncFolderItems"] * 5  # three mail folders, calendar, contacts

    # Moved to another synced folder: the same activity (Delete + Create with a new id).
    box.move_item(ids[0], "Deals")
    box.delete_item(ids[1])
    box.set_read(ids[2], True)
    sync(cli, ews, name)
    activities = {a["internet_message_id"]: a for a in cli.export_activities()}
    assert len(activities) == 6
    row = json.loads(cli("mailbox", "list", "--json").output.splitlines()[0])
    assert row["status"] == "ok"


def test_the_same_message_in_two_mailboxes_is_one_activity(cli: Cli, ews: EwsDouble) -> None:
    load_sample_crm(cli)
    first, one = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts")
    second, two = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts",
                                  owner="wei.zhang@northwind.example")
    shared = mime(40, message_id="<shared-40@acme.example>")
    ews.mailbox(one).add_item("inbox", mime=shared)
    ews.mailbox(two).add_item("inbox", mime=shared)
    sync(cli, ews, first)
    sync(cli, ews, second)
    assert mail_ids(cli) == ["<shared-40@acme.example>"]
