"""`crmsync mail import`: the sample mailbox through the same pipeline a mailbox uses."""

from __future__ import annotations

import email
import email.utils
import glob
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from crmsync.crm.models import QuarantinedItem
from tests.conftest import SAMPLES, Cli, load_sample_crm


def _by_mid(activities: list[dict]) -> dict[str, dict]:
    return {a["internet_message_id"]: a for a in activities}


def _links(activity: dict) -> set[tuple[str, str]]:
    return {(link["type"], link["external_id"]) for link in activity["links"]}


def test_sample_mailbox_is_captured_once_with_reasons(cli: Cli) -> None:
    # Customer mail is captured with explainable links; internal mail and newsletters are
    # counted, not stored; the mail without a sender is quarantined; re-import adds nothing.
    load_sample_crm(cli)
    result = cli("mail", "import", str(SAMPLES / "mailbox.mbox"))
    assert "10 captured" in result.output
    assert "1 quarantined" in result.output
    assert "1 skipped: internal-only mail" in result.output
    activities = _by_mid(cli.export_activities())
    assert len(activities) == 10

    first = activities["<demo-001@mail.example>"]
    assert first["direction"] == "inbound"
    # Ana has a role on Acme's one open opportunity, so the mail is about that deal.
    assert _links(first) == {("contact", "c-1"), ("account", "acc-acme"), ("opportunity", "opp-1")}
    reasons = {link["reason"] for link in first["links"]}
    assert any("Ana Ruiz" in r for r in reasons)
    assert all(link["source"] == "auto" and 0 < link["confidence"] <= 1 for link in first["links"])
    assert first["sources"] == [
        {"mailbox": "file:mailbox.mbox", "folder": first["sources"][0]["folder"],
         "item_id": first["sources"][0]["item_id"]}
    ]

    # A reply from us is outbound and joins the first mail's conversation.
    reply = activities["<demo-002@mail.example>"]
    assert reply["direction"] == "outbound"
    assert reply["conversation"] == first["conversation"]

    # An unknown person at a customer's domain links to the account by domain.
    jo = activities["<demo-005@mail.example>"]
    assert _links(jo) == {("account", "acc-acme"), ("opportunity", "opp-1")}
    assert any("acme.example" in link["reason"] for link in jo["links"])

    # GB2312-encoded name and subject are decoded.
    chinese = activities["<demo-009@yunfan.example.cn>"]
    assert chinese["subject"] == "回复：数据平台报价"
    assert chinese["participants"][0]["name"] == "李晓明"
    assert ("contact", "c-4") in _links(chinese)

    # A contact on a free-mail address still matches; gmail.com identifies no account.
    peter = activities["<demo-010@mail.example>"]
    assert ("contact", "c-5") in _links(peter)
    assert ("account", "acc-initech") in _links(peter)

    again = cli("mail", "import", str(SAMPLES / "mailbox.mbox"))
    assert "captured" not in again.output.replace("0 captured", "")
    assert len(cli.export_activities()) == 10

    with cli.session() as session:
        quarantined = session.scalars(select(QuarantinedItem)).all()
    assert [q.reason for q in quarantined] == ["no sender address"]
    assert b"This mail has no From header." in quarantined[0].raw


def _cpython_email_corpus() -> list[str]:
    import test.test_email

    folder = os.path.join(os.path.dirname(test.test_email.__file__), "data")
    return sorted(glob.glob(os.path.join(folder, "msg_*.txt")))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cpython_email_corpus_imports_without_an_exception(cli: Cli, tmp_path: Path) -> None:
    # Every message CPython tests its email package with goes through the pipeline:
    # stored, counted or quarantined, never an exception.
    files = _cpython_email_corpus()
    assert len(files) >= 40
    # One account per sender domain, so most of the corpus is captured and stored.
    domains = set()
    for name in files:
        with open(name, "rb") as handle:
            sender = email.message_from_binary_file(handle).get("From", "")
        domain = email.utils.parseaddr(str(sender))[1].rpartition("@")[2].lower()
        if "." in domain:
            domains.add(domain)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "external_id,name,domains\n"
        + "".join(f"a-{i},Account {i},{d}\n" for i, d in enumerate(sorted(domains))),
        encoding="utf-8",
    )
    cli("crm", "import", "--accounts", str(accounts))
    result = cli("mail", "import", *files)
    assert "files: ok" in result.output
    assert len(cli.export_activities()) >= 20
