"""A small CRM snapshot shared by the matcher and mail decision tables (plain data)."""

from __future__ import annotations

from crmsync.mapping.directory import AccountEntry, ContactEntry, Directory

ACME = AccountEntry(10, "acc-acme", "Acme")
GLOBEX = AccountEntry(20, "acc-globex", "Globex")
ANA = ContactEntry(1, "con-ana", "Ana Ruiz", ACME.id)
LI = ContactEntry(2, "con-li", "Li Wei", GLOBEX.id)
SOLO = ContactEntry(3, "con-solo", "", None)

DIRECTORY = Directory(
    internal_domains=frozenset({"Ours.example", "ours-corp.example."}),
    contacts_by_address={
        "ana@acme.com": ANA,
        "ana.ruiz@gmail.com": ANA,  # a second address of the same contact
        "li@globex.cn": LI,
        "solo@freelance.example": SOLO,
    },
    accounts_by_id={ACME.id: ACME, GLOBEX.id: GLOBEX},
    accounts_by_domain={
        "acme.com": ACME,
        "globex.cn": GLOBEX,
        "gmail.com": ACME,  # someone typed a contact's free-mail domain into the account
    },
)
