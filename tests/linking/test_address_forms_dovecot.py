"""Addresses as real mail writes them, through a real Dovecot and `crmsync sync`.

A CRM imported with a punycode domain, mail written in Unicode (RFC 6532), quoted local
parts, an address spoofed into the display name, the two copies of a mail with Bcc in two
reps' mailboxes, and a stranger replying into a customer's thread.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.servers.dovecot import DovecotServer

ME, WEI = "maria.lopez@northwind.example", "wei.zhang@northwind.example"
CSV = {
    "users": "email,name,role\n" f"{ME},Maria Lopez,rep\n{WEI},Zhang Wei,rep\n",
    "accounts": "external_id,name,domains\n"
                "acc-b,Bücherstube,XN--BCHER-KVA.example\nacc-acme,Acme,acme.example\n",
    "contacts": "external_id,first_name,last_name,emails,account_external_id\n"
                "c-hans,Hans,Weber,hans@xn--bcher-kva.example,acc-b\n"
                "c-chen,Chen,Kim,chen.kim@acme.example,acc-acme\n"
                "c-lee,Lee,Park,lee.park@acme.example,acc-acme\n",
    "opportunities": "external_id,name,account_external_id,stage,contact_emails\n"
                     "opp-b,Books,acc-b,Proposal,hans@bücher.example\n"
                     "opp-r,Renewal,acc-acme,Proposal,chen.kim@acme.example\n"
                     "opp-f,Fleet,acc-acme,Proposal,lee.park@acme.example\n",
}


def _mail(mid: str, headers: str, date: str = "Mon, 2 Mar 2026 10:00:00 +0000") -> bytes:
    text = f"Message-ID: <{mid}>\r\n{headers}Subject: {mid}\r\nDate: {date}\r\n\r\nHello.\r\n"
    return text.encode("utf-8")


def _load(cli: Cli, tmp_path: Path) -> None:
    cli("org", "set-domains", "northwind.example")
    args = []
    for kind, text in CSV.items():
        (tmp_path / f"{kind}.csv").write_text(text, encoding="utf-8")
        args += [f"--{kind}", str(tmp_path / f"{kind}.csv")]
    cli("crm", "import", *args)


def _links(activity: dict) -> set[tuple[str, str]]:
    return {(link["type"], link["external_id"]) for link in activity["links"]}


def test_address_forms_through_dovecot(cli: Cli, dovecot: DovecotServer, tmp_path: Path
                                       ) -> None:
    # Each form, synced from two reps' real mailboxes, links what a rep reading it expects.
    _load(cli, tmp_path)
    maria, wei = new_user(dovecot), new_user(dovecot)
    to_me = f"To: {ME}\r\n"
    dovecot.append_many(maria, "INBOX", [
        # the CRM holds the punycode domain, the mail carries it in UTF-8
        _mail("idn@x.example", "From: Hans <Hans@BÜCHER.example>\r\n" + to_me),
        _mail("quoted@x.example", 'From: "chen.kim"@acme.example\r\n' + to_me),
        _mail("team@x.example", 'From: Sales <"sales team"@acme.example>\r\n' + to_me),
        _mail("spoof@x.example", "From: chen.kim@acme.example <billing@evil.example>\r\n"
              + to_me),
        _mail("reply@x.example", "From: assistant@gmail.com\r\n" + to_me
              + "In-Reply-To: <idn@x.example>\r\n", "Mon, 2 Mar 2026 11:00:00 +0000"),
        # the copy Chen's colleague received: no Bcc
        _mail("bcc@x.example", f"From: {WEI}\r\nTo: chen.kim@acme.example\r\n"),
    ])
    # Wei's Sent copy of the same mail carries the Bcc to a role on the other deal
    dovecot.append(wei, "INBOX", _mail(
        "bcc@x.example", f"From: {WEI}\r\nTo: chen.kim@acme.example\r\n"
        "Bcc: lee.park@acme.example\r\n"))
    sync(cli, add_mailbox(cli, dovecot, maria))
    first = {a["internet_message_id"]: _links(a) for a in cli.export_activities()}
    assert first["<bcc@x.example>"] == {("contact", "c-chen"), ("account", "acc-acme"),
                                        ("opportunity", "opp-r")}
    sync(cli, add_mailbox(cli, dovecot, wei))
    activities = {a["internet_message_id"]: a for a in cli.export_activities()}
    links = {mid: _links(a) for mid, a in activities.items()}
    assert "<spoof@x.example>" not in links  # the real contact is not linked: not captured
    assert links["<idn@x.example>"] == {("contact", "c-hans"), ("account", "acc-b"),
                                        ("opportunity", "opp-b")}
    assert links["<quoted@x.example>"] == {("contact", "c-chen"), ("account", "acc-acme"),
                                           ("opportunity", "opp-r")}
    assert links["<team@x.example>"] == {("account", "acc-acme")}
    assert links["<reply@x.example>"] == {("account", "acc-b"), ("opportunity", "opp-b")}
    # one activity, both copies' participants, and no deal: the union names two
    bcc = activities["<bcc@x.example>"]
    assert links["<bcc@x.example>"] == {("contact", "c-chen"), ("contact", "c-lee"),
                                        ("account", "acc-acme")}
    assert {(p["role"], p["address"]) for p in bcc["participants"]} >= {
        ("to", "chen.kim@acme.example"), ("bcc", "lee.park@acme.example")}
    assert len(bcc["sources"]) == 2
