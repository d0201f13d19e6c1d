"""Contacts: real vCards (2.1, 3.0, 4.0) import, dedupe by address, conflicts, export."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.connectors.base import ContactCard
from crmsync.mapping.vcard import parse_vcards, plan_card
from tests.conftest import Cli, load_sample_crm

DATA = Path(__file__).resolve().parent.parent / "data" / "vcard"
VCF = sorted(DATA.glob("*.vcf"))


@pytest.mark.parametrize("path", VCF, ids=[p.name for p in VCF])
def test_real_vcards_parse_with_their_addresses(path: Path) -> None:
    # Outlook, iPhone and RFC 6350 cards give a name and at least one address.
    cards, _problems = parse_vcards(path.read_bytes())
    assert cards and all(c.emails and c.display_name for c in cards)


def test_a_card_fills_blanks_and_lists_conflicts() -> None:
    # Import never overwrites what the CRM holds: different values are conflicts.
    card = ContactCard("1", "", "Ana Ruiz", ("ana@acme.example",), given_name="Ana",
                       surname="Ruiz-Garcia", job_title="CPO", phones=("+34 1",))
    plan = plan_card(card, {"first_name": "Ana", "last_name": "Ruiz", "phone": "",
                            "title": "Head of Procurement"})
    assert plan.fill == {"phone": "+34 1"}
    assert set(plan.conflicts) == {("last_name", "Ruiz", "Ruiz-Garcia"),
                                   ("title", "Head of Procurement", "CPO")}


def test_contacts_round_trip_through_vcard(cli: Cli, tmp_path: Path) -> None:
    # Import creates new contacts and dedupes known ones; export re-imports unchanged.
    load_sample_crm(cli)
    mine = tmp_path / "cards.vcf"
    mine.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Ruiz;Ana;;;\r\nFN:Ana Ruiz\r\nTITLE:CPO\r\n"
        "EMAIL;TYPE=INTERNET:ANA.RUIZ@acme.example\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:New;Nora;;;\r\nFN:Nora New\r\n"
        "EMAIL:nora@acme.example\r\nEND:VCARD\r\n")
    out = cli("contacts", "import", str(mine), *map(str, VCF)).output
    assert "cards.vcf: 1 created, 1 unchanged, 1 conflicts" in out
    assert "conflict: c-1\ttitle\tHead of Procurement\tCPO" in out
    exported = tmp_path / "export.vcf"
    exported.write_text(cli("contacts", "export").output)
    cards, problems = parse_vcards(exported.read_bytes())
    assert problems == [] and "nora@acme.example" in {e for c in cards for e in c.emails}
    again = cli("contacts", "import", str(exported)).output
    assert "created" not in again and "0 conflicts" in again
