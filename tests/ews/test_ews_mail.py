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


def test_an_exchange_online_url_is_refused_with_a_pointer_to_graph(cli: Cli) -> None:
    result = cli("mailbox", "add", "ews", "cloud", "--url",
                 "https://outlook.office365.com/EWS/Exchange.asmx", "--username",
                 "maria@northwind.example", "--password-env", "EWS_PASSWORD",
                 ok=False, env={"EWS_PASSWORD": "x"})
    assert result.exit_code != 0
    assert "mailbox add graph" in result.output
    assert "cloud" not in cli("mailbox", "list").output


def test_tls_trust_follows_ssl_cert_file_and_an_untrusted_server_is_refused(
        cli: Cli, ews: EwsDouble, monkeypatch) -> None:
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts")
    ews.mailbox(address).add_item("inbox", mime=mime(60))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)  # requests reads it too
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    untrusted = cli("sync", "--mailbox", name, "--once", ok=False)
    assert untrusted.exit_code != 0 and "certificate" in untrusted.output.lower()
    assert mail_ids(cli) == []
    trusted = cli("sync", "--mailbox", name, "--once", env={"SSL_CERT_FILE": ews.ca_path})
    assert "ok" in trusted.output
    assert mail_ids(cli) == ["<ews-60@acme.example>"]
