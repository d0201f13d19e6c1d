"""CRM contacts in a Microsoft 365 mailbox's "CRM" contact folder, against the Graph
double: written by the mailbox's sync, an edit in Outlook listed as a suggestion (the
CRM unchanged), a contact out of the rule's scope removed from the folder only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmsync.connectors.base import ContactCard
from crmsync.connectors.contact_folders import ContactChangedError
from tests.conftest import Cli, load_sample_crm
from tests.connectors.test_graph import connect
from tests.fakes.graph_server import GraphDouble
from tests.graph.test_graph_sync import add_graph_mailbox, sync

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MARIA = "maria.lopez@northwind.example"


def folder(graph: GraphDouble, address: str) -> dict[str, dict]:
    """The CRM folder as Outlook shows it: first address → contact."""
    return {c["emailAddresses"][0]["address"]: c
            for c in graph.folder_contacts(address).values()}


@SQLITE_ONLY
def test_crm_contacts_in_the_outlook_folder_and_an_outlook_edit_as_a_suggestion(
        cli: Cli, graph: GraphDouble, tmp_path: Path) -> None:
    # Maria's team rule (Sales EMEA) publishes the accounts her team owns.
    load_sample_crm(cli)
    cli("contacts", "publish-rule", "set", "--team", "Sales EMEA", "--accounts", "team")
    name, address = add_graph_mailbox(cli, graph, "--no-calendar", "--no-contacts")
    sync(cli, graph, name)
    contacts = folder(graph, address)
    assert set(contacts) == {"ana.ruiz@acme.example", "tom.becker@acme.example",
                             "hank@globex.example", "peter.gibbons@gmail.com"}
    ana = contacts["ana.ruiz@acme.example"]
    assert (ana["givenName"], ana["surname"], ana["jobTitle"], ana["companyName"]) == (
        "Ana", "Ruiz", "Head of Procurement", "Acme Corporation")

    graph.data.update(address, ana["id"], jobTitle="Chief Procurement Officer")  # in Outlook
    sync(cli, graph, name)
    [suggestion] = [json.loads(line) for line in
                    cli("contacts", "suggestions", "--json").output.splitlines()]
    assert (suggestion["contact_external_id"], suggestion["field"],
            suggestion["suggested_value"]) == ("c-1", "title", "Chief Procurement Officer")
    assert "TITLE:Head of Procurement" in cli("contacts", "export").output
    assert folder(graph, address)["ana.ruiz@acme.example"]["jobTitle"] == \
        "Chief Procurement Officer"  # the rep's edit is not written over either

    contacts_csv = tmp_path / "contacts.csv"
    contacts_csv.write_text("external_id,first_name,last_name,emails,phone,title,"
                            "account_external_id\nc-2,Tom,Becker,tom.becker@acme.example,"
                            "+49 30 1234567,CEO,acc-acme\n")
    cli("crm", "import", "--contacts", str(contacts_csv))
    cli("contacts", "publish-rule", "set", "--user", MARIA, "--accounts", "none")
    sync(cli, graph, name)
    assert folder(graph, address) == {}
    assert "hank@globex.example" in cli("contacts", "export").output


@SQLITE_ONLY
def test_a_crm_change_is_written_at_the_version_seen(cli: Cli, graph: GraphDouble,
                                                      tmp_path: Path) -> None:
    # The CRM changes Tom's title: the folder copy is updated in place (same id, new
    # change key), never duplicated.
    load_sample_crm(cli)
    cli("contacts", "publish-rule", "set", "--user", MARIA, "--accounts", "owned")
    name, address = add_graph_mailbox(cli, graph, "--no-calendar", "--no-contacts")
    sync(cli, graph, name)
    tom = folder(graph, address)["tom.becker@acme.example"]
    contacts_csv = tmp_path / "contacts.csv"
    contacts_csv.write_text("external_id,first_name,last_name,emails,phone,title,"
                            "account_external_id\nc-2,Tom,Becker,tom.becker@acme.example,"
                            "+49 30 1234567,CEO,acc-acme\n")
    cli("crm", "import", "--contacts", str(contacts_csv))
    sync(cli, graph, name)
    after = folder(graph, address)
    assert len(after) == 4
    assert after["tom.becker@acme.example"]["id"] == tom["id"]
    assert after["tom.becker@acme.example"]["jobTitle"] == "CEO"
    assert after["tom.becker@acme.example"]["changeKey"] != tom["changeKey"]
    assert cli("contacts", "suggestions").output == ""


def test_a_write_at_an_old_change_key_is_refused_not_applied(graph: GraphDouble) -> None:
    # Edited in Outlook after we listed the folder: the PATCH If-Match the old etag gets
    # 412, and the Outlook edit stays.
    address, connector = connect(graph)
    card = ContactCard("crm-c-2", "CRM", "Tom Becker", ("tom.becker@acme.example",),
                       "Tom", "Becker", "Acme", "CTO")
    stored = connector.create_crm_contact(card)
    graph.data.update(address, stored.remote_id, jobTitle="Boss")
    with pytest.raises(ContactChangedError):
        connector.update_crm_contact(stored.remote_id, stored.change_key, card)
    [now] = connector.crm_folder_contacts()
    assert now.card.job_title == "Boss" and now.change_key != stored.change_key
