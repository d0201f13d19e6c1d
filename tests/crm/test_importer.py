"""CSV import: the sample organization loads, re-imports change nothing, bad files say why."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from crmsync.crm.models import Account, Contact, ContactEmail, Opportunity, OpportunityContact, User
from tests.conftest import Cli, load_sample_crm


def _count(cli: Cli, model) -> int:

    with cli.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_sample_crm_loads_and_reimport_is_idempotent(cli: Cli) -> None:
    # A second import of the same files updates rows in place and creates none.
    load_sample_crm(cli)
    counts = {m: _count(cli, m) for m in (User, Account, Contact, ContactEmail, Opportunity)}
    assert counts == {User: 4, Account: 4, Contact: 5, ContactEmail: 6, Opportunity: 4}
    load_sample_crm(cli)
    assert {m: _count(cli, m) for m in counts} == counts
    assert _count(cli, OpportunityContact) == 4


def test_closed_stages_close_the_opportunity(cli: Cli) -> None:
    # "Closed Won"/"Closed Lost" mean closed, so the deal is no longer offered as open.
    load_sample_crm(cli)

    with cli.session() as session:
        closed = session.scalars(select(Opportunity.external_id).where(Opportunity.is_closed))
        assert list(closed) == ["opp-4"]


def test_missing_column_is_a_one_line_error(cli: Cli, tmp_path: Path) -> None:
    # A user who exports the wrong sheet learns which columns are missing, without a traceback.
    bad = tmp_path / "contacts.csv"
    bad.write_text("external_id,first_name\nc-1,Ana\n", encoding="utf-8")
    result = cli("crm", "import", "--contacts", str(bad), ok=False)
    assert result.exit_code == 1
    assert "missing columns emails, last_name" in result.output
    assert "Traceback" not in result.output


def test_an_address_cannot_belong_to_two_contacts(cli: Cli, tmp_path: Path) -> None:
    # Two contacts sharing an address would make matching ambiguous; the import says which.
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("external_id,name,domains\na-1,Acme,acme.example\n", encoding="utf-8")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "external_id,first_name,last_name,emails,account_external_id\n"
        "c-1,Ana,Ruiz,ana@acme.example,a-1\nc-2,Ann,Roe,ANA@acme.example,a-1\n",
        encoding="utf-8",
    )
    result = cli("crm", "import", "--accounts", str(accounts), "--contacts", str(contacts),
                 ok=False)
    assert "ana@acme.example already belongs to contact c-1" in result.output
