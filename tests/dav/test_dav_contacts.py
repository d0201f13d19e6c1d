"""The CardDAV side of the connector against Radicale: the rep's own address book as
ContactCards, changes and deletions by sync token; the CRM address book is never read."""

from __future__ import annotations

from crmsync.connectors.base import ContactCard, Deletion
from crmsync.connectors.registry import load_connector_class
from tests.contract.handles import drain
from tests.dav.accounts import DavAccount


def card(uid: str, given: str, family: str, email: str, title: str = "") -> str:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{given} {family}\r\n"
            f"N:{family};{given};;;\r\nEMAIL;TYPE=INTERNET:{email}\r\n"
            f"TEL;TYPE=WORK:+34 600 000 000\r\nORG:Acme\r\nTITLE:{title}\r\nEND:VCARD\r\n")


def test_cards_come_with_their_changes_and_deletions(account: DavAccount) -> None:
    # Cards of the rep's own book are read (not those of the CRM book, which crmsync
    # writes); an edit comes again under the same id, a deleted card as a Deletion.
    account.make_address_book("crm", "CRM")
    account.put_card(card("crm-1", "Not", "Mine", "x@acme.example"), book="crm")
    href = account.put_card(card("ana-1", "Ana", "Ruiz", "Ana.Ruiz@ACME.example", "Buyer"))
    dav = load_connector_class("caldav").from_settings(
        {"url": account.user.principal_url, "username": account.user.username,
         "calendar": False}, account.user.password)
    first = drain(dav)
    [ana] = [c for c in first.changes if isinstance(c, ContactCard)]
    assert (ana.item_id, ana.emails, ana.given_name, ana.surname, ana.company,
            ana.job_title, ana.phones) == (href, ("ana.ruiz@acme.example",), "Ana", "Ruiz",
                                          "Acme", "Buyer", ("+34 600 000 000",))
    assert drain(dav, first.cursors).changes == []
    account.put_card(card("ana-1", "Ana", "Ruiz", "ana.ruiz@acme.example", "CPO"),
                     name=href.rsplit("/", 1)[1])
    second = drain(dav, first.cursors)
    assert [(c.item_id, c.job_title) for c in second.changes] == [(href, "CPO")]
    account.delete(href)
    assert drain(dav, second.cursors).changes == [Deletion(item_id=href, folder="contacts")]
