"""Exchange Server address books end to end: contacts dedupe into CRM contacts as Graph's
and vCard imports do, through `crmsync mailbox add ews` + `crmsync sync`."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crmsync.crm.models import Contact, ContactEmail
from tests.conftest import Cli, load_sample_crm
from tests.ews.helpers import add_ews_mailbox, sync
from tests.fakes.ews_server import EwsDouble

#: What these tests hold does not depend on the database (the engine's behaviour on
#: PostgreSQL is covered by test_ews_mail.py and the IMAP and Graph suites): SQLite only,
#: to keep the suite's time.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: an internal user picked from the address list: Exchange stores an EX address
EX_ADDRESS = ("/o=Northwind/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/"
              "cn=Recipients/cn=wei.zhang")


def contact(cli: Cli, address: str) -> Contact | None:
    with cli.session() as session:
        return session.scalars(select(Contact).join(ContactEmail).where(
            ContactEmail.address == address)).one_or_none()


def test_address_book_dedupes_into_crm_contacts(cli: Cli, ews: EwsDouble) -> None:
    # A known contact is completed, never overwritten; a person at a customer's domain is
    # added once; private and internal entries (EX addresses included) stay out.
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-calendar")
    box = ews.mailbox(address)
    box.add_contact(display_name="Ana Ruiz", given_name="Ana", surname="Ruiz",
                    emails=["Ana.Ruiz@acme.example"], phones=["+34 999 999 999"])
    lena = box.add_contact(display_name="Lena Vogel", given_name="Lena", surname="Vogel",
                           company_name="Acme", job_title="Buyer",
                           emails=["lena.vogel@acme.example"])
    box.add_contact(display_name="Mom", emails=["mom@gmail.com"])
    box.add_contact(display_name="Wei Zhang", emails=[EX_ADDRESS])
    sync(cli, ews, name)
    ana = contact(cli, "ana.ruiz@acme.example")
    assert ana is not None and ana.phone == "+34 600 111 222"  # the CRM's value stays
    new = contact(cli, "lena.vogel@acme.example")
    assert new is not None and new.title == "Buyer" and new.account_id is not None
    assert contact(cli, "mom@gmail.com") is None
    with cli.session() as session:
        assert not session.scalars(select(ContactEmail).where(
            ContactEmail.address.like("/o=%"))).all()

    # A changed entry fills a blank of the contact it made; nothing is created twice.
    box.update_item(lena, phones=["+49 30 555"])
    sync(cli, ews, name)
    again = contact(cli, "lena.vogel@acme.example")
    assert again is not None and again.id == new.id and again.phone == "+49 30 555"


def test_unchanged_contacts_cost_one_sync_folder_items(cli: Cli, ews: EwsDouble) -> None:
    # Polling an address book nothing changed in asks Exchange once and fetches nothing.
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-calendar")
    ews.mailbox(address).add_contact(display_name="Lena Vogel",
                                     emails=["lena.vogel@acme.example"])
    sync(cli, ews, name)
    before = len(ews.operations(address))
    sync(cli, ews, name)
    since = ews.operations(address)[before:]
    assert "GetItem" not in since
    assert since.count("SyncFolderItems") == 3  # inbox, sent items, contacts
