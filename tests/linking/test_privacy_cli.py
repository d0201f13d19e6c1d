"""Privacy rules end to end: `crmsync rules`, `crmsync privacy erase`, relink, preview."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text

from crmsync.crm.links import LinkSuggestion
from crmsync.crm.privacy import ErasureRecord
from tests.conftest import SAMPLES, Cli, load_sample_crm


def _mail(path: Path, mid: str, sender: str, to: str, subject: str, extra: str = "") -> Path:
    path.write_text(
        f"Message-ID: <{mid}>\nFrom: {sender}\nTo: {to}\nSubject: {subject}\n"
        f"Date: Mon, 2 Mar 2026 10:00:00 +0000\n{extra}\nBody mentions {sender}.\n"
    )
    return path


def _dump(cli: Cli) -> str:
    """Every text value in every table: what a database dump would show."""
    out = []
    with cli.session() as session:
        tables = [r[0] for r in session.execute(text(
            "SELECT name FROM sqlite_master WHERE type='table'"
            if session.bind.dialect.name == "sqlite" else
            "SELECT tablename FROM pg_tables WHERE schemaname='public'"
        ))]
        for table in tables:
            for row in session.execute(text(f'SELECT * FROM "{table}"')):
                out.append(repr(tuple(row)))
    return "\n".join(out)


def test_private_mail_and_blocked_domains_are_never_captured(cli: Cli, tmp_path: Path) -> None:
    # A mail marked Private and a mail from a blocked domain are counted, never stored.
    load_sample_crm(cli)
    private = _mail(tmp_path / "p.eml", "p@x", "ana.ruiz@acme.example",
                    "maria.lopez@northwind.example", "Personal", "Sensitivity: Private")
    result = cli("mail", "import", str(private))
    assert "skipped: marked private, personal or confidential" in result.output
    cli("rules", "add", "block-domain", "globex.example")
    globex = _mail(tmp_path / "g.eml", "g@x", "hank@globex.example",
                   "maria.lopez@northwind.example", "Pilot")
    assert "skipped: a participant is blocked" in cli("mail", "import", str(globex)).output
    assert cli.export_activities() == []


def test_a_rule_added_later_purges_mail_already_captured(cli: Cli) -> None:
    # Blocking a domain removes that customer's captured mail, not only future mail.
    load_sample_crm(cli)
    cli("mail", "import", str(SAMPLES / "mailbox.mbox"))
    before = cli.export_activities()
    acme = [a for a in before if any("acme" in p["address"] for p in a["participants"])]
    assert acme
    out = cli("rules", "add", "block-domain", "acme.example").output
    assert f"{len(acme)} captured activities purged" in out
    after = cli.export_activities()
    assert len(after) == len(before) - len(acme)
    assert "block-domain\tacme.example" in cli("rules", "list").output


def test_erase_removes_the_address_everywhere_and_keeps_it_out(cli: Cli, tmp_path: Path) -> None:
    # GDPR erasure: no trace of the canary in the database, and the next import skips it.
    load_sample_crm(cli)
    canary = "canary.person@acme.example"
    first = _mail(tmp_path / "c.eml", "c1@x", f"Canary <{canary}>",
                  "maria.lopez@northwind.example", "Hello")
    cli("mail", "import", str(first))
    assert canary in _dump(cli)
    out = cli("privacy", "erase", canary.upper()).output
    assert "1 participants" in out and "1 bodies" in out
    assert canary not in _dump(cli).lower()
    again = _mail(tmp_path / "c2.eml", "c2@x", canary, "maria.lopez@northwind.example", "Again")
    assert "skipped: a participant was erased or opted out" in cli(
        "mail", "import", str(again)).output
    with cli.session() as session:
        record = session.scalars(select(ErasureRecord)).one()
    assert record.removed["participants"] == 1 and canary not in repr(record.removed)


def test_erase_of_a_contact_removes_the_contact(cli: Cli) -> None:
    # Erasing a contact's address removes the contact and all their addresses' data.
    load_sample_crm(cli)
    cli("mail", "import", str(SAMPLES / "mailbox.mbox"))
    out = cli("privacy", "erase", "ana.ruiz@acme.example").output
    assert "1 contacts" in out
    dump = _dump(cli).lower()
    assert "ana.ruiz@acme.example" not in dump and "ana@acme-eu.example" not in dump
    for activity in cli.export_activities():
        assert ("contact", "c-1") not in {(x["type"], x["external_id"]) for x in activity["links"]}


def test_relink_follows_crm_changes_but_keeps_a_persons_links(cli: Cli, tmp_path: Path) -> None:
    # A new contact makes older mail link to them; a person's link survives relinking.
    load_sample_crm(cli)
    mail = _mail(tmp_path / "n.eml", "n@x", "new.person@acme.example",
                 "maria.lopez@northwind.example", "Hi")
    cli("mail", "import", str(mail))
    [activity] = cli.export_activities()
    assert {x["type"] for x in activity["links"]} == {"account", "opportunity"}
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "external_id,first_name,last_name,emails,phone,title,account_external_id\n"
        "c-new,New,Person,new.person@acme.example,,,acc-acme\n"
    )
    cli("crm", "import", "--contacts", str(contacts))
    with cli.session() as session:
        session.execute(text(
            "INSERT INTO activity_links (activity_id, account_id, reason, confidence, source,"
            " created_at) SELECT :a, id, 'by hand', 1.0, 'user', CURRENT_TIMESTAMP"
            " FROM accounts WHERE external_id = 'acc-globex'"), {"a": int(activity["id"])})
        session.commit()
    out = cli("relink", "--since", "2026-01-01").output
    assert "1 links added" in out
    links = {(x["type"], x["external_id"], x["source"])
             for x in cli.export_activities()[0]["links"]}
    assert ("contact", "c-new", "auto") in links
    assert ("account", "acc-globex", "user") in links


def test_ambiguous_opportunities_become_ranked_suggestions(cli: Cli, tmp_path: Path) -> None:
    # Two open deals and no role among participants: no opportunity link, two suggestions.
    load_sample_crm(cli)
    opps = tmp_path / "opps.csv"
    opps.write_text(
        "external_id,name,account_external_id,stage,amount,close_date,owner_email,"
        "contact_emails\nopp-9,Acme second deal,acc-acme,Proposal,1,2027-01-01,,\n"
    )
    cli("crm", "import", "--opportunities", str(opps))
    mail = _mail(tmp_path / "s.eml", "s@x", "tom.becker@acme.example",
                 "maria.lopez@northwind.example", "Question")
    cli("mail", "import", str(mail))
    [activity] = cli.export_activities()
    assert "opportunity" not in {x["type"] for x in activity["links"]}
    with cli.session() as session:
        ranks = session.execute(select(LinkSuggestion.rank, LinkSuggestion.reason)).all()
    assert sorted(r for r, _ in ranks) == [1, 2] and all(reason for _, reason in ranks)
