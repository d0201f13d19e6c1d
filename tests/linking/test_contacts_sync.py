"""Contacts from mailbox address books and from unknown participants at an account's domain."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from crmsync.connectors.base import ContactCard, Page
from crmsync.crm.db import session_scope
from crmsync.crm.directory import load_directory
from crmsync.crm.models import Contact, ContactEmail
from crmsync.crm.rules import load_capture_rules
from crmsync.sync_service.engine.page import Origin, WriteOptions
from crmsync.sync_service.engine.store import PageWriter
from crmsync.sync_service.startup import build_services
from tests.conftest import Cli, load_sample_crm
from tests.engine.mails import MARIA, make_mail

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def _apply_cards(cli: Cli, cards: list[ContactCard]) -> dict[str, int]:
    services = build_services({"DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"]})
    try:
        with session_scope(services.sessions) as session:
            directory = load_directory(session, services.internal_domains(session))
            writer = PageWriter(session, Origin("mailbox:test"), directory,
                                WriteOptions(now=NOW, policy=load_capture_rules(session)))
            writer.apply(Page(resource="contacts", changes=list(cards), cursor=""))
            return dict(writer.counters)
    finally:
        services.dispose()


def _contact(cli: Cli, address: str) -> Contact | None:
    with cli.session() as session:
        return session.scalars(select(Contact).join(ContactEmail).where(
            ContactEmail.address == address)).one_or_none()


def test_address_book_dedupes_into_contacts_and_lists_conflicts(cli: Cli) -> None:
    # A rep's address book completes known contacts without overwriting them, lists what
    # differs, adds people at customers' domains once, and leaves private and internal
    # entries out of the CRM.
    load_sample_crm(cli)
    cli("privacy", "opt-out", "opted.out@acme.example")
    cards = [
        ContactCard("1", "contacts", "Ana Ruiz", ("Ana.Ruiz@acme.example",), given_name="Ana",
                    surname="Ruiz", phones=("+34 999 999 999",)),
        ContactCard("2", "contacts", "Lena Vogel", ("lena.vogel@acme.example",),
                    given_name="Lena", surname="Vogel", job_title="Buyer"),
        ContactCard("3", "contacts", "Lena V.", ("lena.vogel@acme.example",)),
        ContactCard("4", "contacts", "Mom", ("mom@gmail.com",)),
        ContactCard("5", "contacts", "Maria", (MARIA[1],)),
        ContactCard("6", "contacts", "Opted Out", ("opted.out@acme.example",)),
    ]
    counters = _apply_cards(cli, cards)
    ana = _contact(cli, "ana.ruiz@acme.example")
    assert ana is not None and ana.phone == "+34 600 111 222"
    assert any(k.startswith("contact conflict: c-1 phone") and "+34 999 999 999" in k
               for k in counters)
    lena = _contact(cli, "lena.vogel@acme.example")
    assert lena is not None and lena.title == "Buyer" and lena.account_id is not None
    assert _contact(cli, "mom@gmail.com") is None and _contact(cli, MARIA[1]) is None
    assert _contact(cli, "opted.out@acme.example") is None
    assert counters["contacts created"] == 1
    # Seeing the same address book again changes nothing.
    again = _apply_cards(cli, cards)
    assert "contacts created" not in again and "contacts updated" not in again


def _import(cli: Cli, tmp_path: Path, n: int, sender: tuple[str, str]) -> None:
    path = tmp_path / f"{n}.eml"
    path.write_bytes(make_mail(n, sender=sender, to=(MARIA,)))
    cli("mail", "import", str(path))


def _links_of(cli: Cli, sender: str) -> set[tuple[str, str]]:
    [activity] = [a for a in cli.export_activities()
                  if any(p["address"] == sender for p in a["participants"])][-1:]
    return {(x["type"], x["external_id"]) for x in activity["links"]}


def test_unknown_participants_become_contacts_only_when_enabled(
    cli: Cli, tmp_path: Path
) -> None:
    # Off by default: a stranger at Acme links to Acme only. Turned on, the next stranger
    # at Acme becomes an Acme contact and the mail links to them.
    load_sample_crm(cli)
    _import(cli, tmp_path, 1, ("Lena Vogel", "lena.vogel@acme.example"))
    assert _contact(cli, "lena.vogel@acme.example") is None
    assert ("account", "acc-acme") in _links_of(cli, "lena.vogel@acme.example")
    cli("privacy", "set", "auto_create_contacts", "on")
    _import(cli, tmp_path, 2, ("Jon Park", "jon.park@acme.example"))
    jon = _contact(cli, "jon.park@acme.example")
    assert jon is not None and (jon.first_name, jon.last_name) == ("Jon", "Park")
    links = _links_of(cli, "jon.park@acme.example")
    assert ("contact", jon.external_id) in links and ("account", "acc-acme") in links
    _import(cli, tmp_path, 3, ("Mom", "mom@gmail.com"))
    assert _contact(cli, "mom@gmail.com") is None
