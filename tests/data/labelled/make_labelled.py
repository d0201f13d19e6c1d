"""Generate the labelled linking set: a sample CRM, a mailbox, and the links each mail should get.

Run ``python tests/data/labelled/make_labelled.py`` to rewrite the files beside it.

The labels come from this generator's own scenario (who writes to whom about which deal),
never from crmsync's matching code: this file imports nothing from crmsync. A scenario
says, in the words of a rep reading the mail, which contact, account and opportunity it
concerns; the measurement then asks how many of crmsync's automatic links agree.

Addresses come as real mail writes them, too: international domains in punycode or
Unicode on either side, quoted local parts, an address spoofed into the display name, and
several copies of one mail (the sender's Sent copy carries Bcc). Those scenarios draw from
a random generator of their own, so the original mails stay as they were.

A few scenarios are deliberately hard (a contact on two open deals writing without a
token, a support question from an account that has one deal in flight, a joint mail to two
customers) so the numbers are not flattering by construction.
"""

from __future__ import annotations

import csv
import json
import mailbox
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import format_datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
OURS = "northwind.example"
REPS = [f"{n}@{OURS}" for n in ("maria.lopez", "wei.zhang", "sam.taylor", "jon.berg")]
WORDS = ["pricing", "rollout", "contract", "pilot", "renewal", "security review", "timeline",
         "invoice", "workshop", "integration", "licences", "kick-off"]


@dataclass
class Account:
    external_id: str
    name: str
    domains: list[str]
    contacts: list[Contact] = field(default_factory=list)
    opportunities: list[Opportunity] = field(default_factory=list)

    def open_opportunities(self) -> list[Opportunity]:
        return [o for o in self.opportunities if o.is_open]


@dataclass
class Contact:
    external_id: str
    first: str
    last: str
    emails: list[str]
    account: Account


@dataclass
class Opportunity:
    external_id: str
    name: str
    account: Account
    is_open: bool
    roles: list[Contact] = field(default_factory=list)


@dataclass
class Mail:
    message: EmailMessage
    captured: bool
    links: dict[str, set[str]]
    scenario: str
    #: other copies of the same message (same Message-ID), labelled once with it
    copies: list[EmailMessage] = field(default_factory=list)


def build_crm(rng: random.Random) -> list[Account]:
    """Build 40 accounts with contacts, open and closed deals, and contact roles."""
    firsts = ["Ana", "Tom", "Li", "Sara", "Omar", "Ines", "Raj", "Mia", "Kai", "Lea", "Noah",
              "Ada", "Ivan", "Yuki", "Zoe", "Hugo", "Nina", "Paul", "Rosa", "Emil"]
    lasts = ["Ruiz", "Becker", "Wei", "Okafor", "Haddad", "Silva", "Patel", "Novak", "Berg",
             "Costa", "Meyer", "Tanaka", "Dubois", "Rossi", "Kowalski", "Nakamura"]
    accounts = []
    for n in range(1, 41):
        domains = [f"cust{n}.example"] + ([f"cust{n}-eu.example"] if n % 5 == 0 else [])
        account = Account(f"acc-{n}", f"Customer {n} Ltd", domains)
        for k in range(rng.randint(2, 4)):
            first, last = rng.choice(firsts), rng.choice(lasts)
            local = f"{first}.{last}{k}".lower()
            emails = [f"{local}@{rng.choice(domains)}"]
            if n % 7 == 0 and k == 0:
                emails.append(f"{local}.home@gmail.com")  # a second, private address
            account.contacts.append(Contact(f"c-{n}-{k}", first, last, emails, account))
        open_count = [0, 1, 1, 1, 2, 2][n % 6]
        for k in range(open_count + 1):  # plus one closed deal each
            is_open = k < open_count
            opp = Opportunity(f"opp-{n}-{k}", f"{account.name} {WORDS[(n + k) % 12]}",
                              account, is_open)
            account.opportunities.append(opp)
        _assign_roles(rng, account)
        accounts.append(account)
    return accounts


def _assign_roles(rng: random.Random, account: Account) -> None:
    """Each open deal gets its own role contacts; one contact may sit on two deals."""
    opens = account.open_opportunities()
    for index, opp in enumerate(opens):
        opp.roles.append(account.contacts[index % len(account.contacts)])
    if len(opens) == 2 and len(account.contacts) >= 3:
        # The account's last contact is on both deals (a CFO signs everything).
        for opp in opens:
            opp.roles.append(account.contacts[-1])
    closed = [o for o in account.opportunities if not o.is_open]
    for opp in closed:
        opp.roles.append(account.contacts[0])


def write_crm(accounts: list[Account]) -> None:
    """Write the four CSV files in crmsync's import columns (docs/csv.md)."""
    with open(HERE / "users.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["email", "name", "role", "team"])
        for rep in REPS:
            w.writerow([rep, rep.split("@")[0].replace(".", " ").title(), "rep", "Sales"])
    with open(HERE / "accounts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "name", "domains", "owner_email"])
        for a in accounts:
            w.writerow([a.external_id, a.name, ";".join(a.domains), REPS[0]])
    with open(HERE / "contacts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "first_name", "last_name", "emails", "phone", "title",
                    "account_external_id"])
        for a in accounts:
            for c in a.contacts:
                w.writerow([c.external_id, c.first, c.last, ";".join(c.emails), "", "",
                            a.external_id])
    with open(HERE / "opportunities.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "name", "account_external_id", "stage", "amount",
                    "close_date", "owner_email", "contact_emails"])
        for a in accounts:
            for o in a.opportunities:
                stage = "Proposal" if o.is_open else "Closed Won"
                roles = ";".join(c.emails[0] for c in o.roles)
                w.writerow([o.external_id, o.name, a.external_id, stage, "10000",
                            "2027-01-31", REPS[0], roles])


class Writer:
    """Build mails and their labels; times advance so the mailbox reads in order."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.when = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        self.mails: list[Mail] = []

    def mail(self, sender: str, to: list[str], subject: str, *, cc: list[str] = (),
             parent: EmailMessage | None = None) -> EmailMessage:
        self.when += timedelta(minutes=self.rng.randint(3, 90))
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self.when)
        domain = sender.rsplit("@", 1)[-1].strip(">").encode("idna").decode()
        msg["Message-ID"] = f"<{self.rng.getrandbits(64):016x}@{domain}>"
        if parent is not None:
            msg["In-Reply-To"] = parent["Message-ID"]
            refs = (parent.get("References", "") + " " + parent["Message-ID"]).strip()
            msg["References"] = refs
        msg.set_content(f"Hello,\n\nabout {subject.lower()}: see below.\n\nRegards\n")
        return msg

    def add(self, message: EmailMessage, scenario: str, *, captured: bool = True,
            contacts=(), accounts=(), opportunities=()) -> None:
        links = {
            "contact": {c.external_id for c in contacts},
            "account": {a.external_id for a in accounts},
            "opportunity": {o.external_id for o in opportunities},
        }
        self.mails.append(Mail(message, captured, links, scenario))


def _sole_role(opp: Opportunity, accounts: list[Account]) -> Contact | None:
    """A role contact of ``opp`` with no role on any other open deal."""
    for contact in opp.roles:
        deals = [o for o in contact.account.open_opportunities() if contact in o.roles]
        if deals == [opp]:
            return contact
    return None


def generate(accounts: list[Account], rng: random.Random) -> list[Mail]:
    """Write every scenario; returns the mails in mailbox order."""
    w = Writer(rng)
    deals = [o for a in accounts for o in a.open_opportunities()]
    for _ in range(100):
        _about_deal(w, rng.choice(deals), accounts, inbound=True)
    for _ in range(40):
        _about_deal(w, rng.choice(deals), accounts, inbound=False)
    for _ in range(30):
        _thread(w, rng.choice(deals), accounts)
    for _ in range(20):
        _token(w, rng.choice([o for o in deals if len(o.account.open_opportunities()) == 2]))
    for _ in range(20):
        _unknown_colleague(w, rng.choice([a for a in accounts if len(a.open_opportunities()) == 1]))
    for _ in range(15):
        _private_address(w, rng.choice([a for a in accounts if a.external_id in
                                         {f"acc-{n}" for n in range(7, 41, 7)}]))
    _noise(w, rng)
    _hard_cases(w, accounts, rng)
    return w.mails


def _about_deal(w: Writer, opp: Opportunity, accounts: list[Account], inbound: bool) -> None:
    """A contact with a role on this deal (and no other) mails a rep, or the rep mails them."""
    contact = _sole_role(opp, accounts)
    if contact is None:
        return
    rep = w.rng.choice(REPS)
    subject = f"{opp.name.split(' Ltd ')[-1].title()} next steps"
    if inbound:
        msg = w.mail(contact.emails[0], [rep], subject)
    else:
        msg = w.mail(rep, [contact.emails[0]], subject)
    w.add(msg, "deal-inbound" if inbound else "deal-outbound", contacts=[contact],
          accounts=[opp.account], opportunities=[opp])


def _thread(w: Writer, opp: Opportunity, accounts: list[Account]) -> None:
    """Customer writes, rep replies, an unknown colleague of the customer joins the thread."""
    contact = _sole_role(opp, accounts)
    if contact is None:
        return
    rep = w.rng.choice(REPS)
    first = w.mail(contact.emails[0], [rep], f"Question on {WORDS[w.rng.randrange(12)]}")
    w.add(first, "thread-start", contacts=[contact], accounts=[opp.account],
          opportunities=[opp])
    reply = w.mail(rep, [contact.emails[0]], "Re: " + first["Subject"], parent=first)
    w.add(reply, "thread-reply", contacts=[contact], accounts=[opp.account],
          opportunities=[opp])
    newcomer = f"newcomer{w.rng.randrange(1000)}@{opp.account.domains[0]}"
    third = w.mail(newcomer, [rep], "Re: " + first["Subject"], parent=reply)
    w.add(third, "thread-newcomer", accounts=[opp.account], opportunities=[opp])


def _token(w: Writer, opp: Opportunity) -> None:
    """The contact on both deals writes with the deal's tracking token in the subject."""
    contact = opp.account.contacts[-1]
    if not all(contact in o.roles for o in opp.account.open_opportunities()):
        return
    msg = w.mail(contact.emails[0], [w.rng.choice(REPS)], f"Signed copy [{opp.external_id}]")
    w.add(msg, "token", contacts=[contact], accounts=[opp.account], opportunities=[opp])


def _unknown_colleague(w: Writer, account: Account) -> None:
    """Someone the CRM does not know, at the customer's (sub)domain, asks about the deal."""
    domain = w.rng.choice([account.domains[0], "mail." + account.domains[0]])
    msg = w.mail(f"buyer{w.rng.randrange(1000)}@{domain}", [w.rng.choice(REPS)],
                 "Purchase order")
    w.add(msg, "unknown-colleague", accounts=[account],
          opportunities=account.open_opportunities())


def _private_address(w: Writer, account: Account) -> None:
    """A contact writes from their private gmail address, which the CRM knows."""
    contact = account.contacts[0]
    opens = account.open_opportunities()
    msg = w.mail(contact.emails[-1], [w.rng.choice(REPS)], "From my phone")
    deal = [o for o in opens if contact in o.roles]
    # The deal is meant when it is the contact's only one (or the account's only one).
    meant = deal if len(deal) == 1 else (opens if len(opens) == 1 and not deal else [])
    w.add(msg, "private-address", contacts=[contact], accounts=[account], opportunities=meant)


def _noise(w: Writer, rng: random.Random) -> None:
    """Internal mail, newsletters and strangers: nothing to capture."""
    for n in range(15):
        msg = w.mail(rng.choice(REPS), [rng.choice(REPS)], f"Team lunch {n}")
        w.add(msg, "internal", captured=False)
    for n in range(20):
        sender = rng.choice([f"news@vendor{n}.example", f"someone{n}@gmail.com"])
        msg = w.mail(sender, [rng.choice(REPS)], f"Offer {n}")
        w.add(msg, "stranger", captured=False)


def _hard_cases(w: Writer, accounts: list[Account], rng: random.Random) -> None:
    """Cases automation should not (or cannot) get right by itself."""
    two_deals = [
        a for a in accounts
        if len(a.open_opportunities()) == 2
        and all(a.contacts[-1] in o.roles for o in a.open_opportunities())
    ]
    for account in two_deals[:6]:
        # The contact on both deals writes without a token: a person knows which deal.
        contact = account.contacts[-1]
        opp = account.open_opportunities()[0]
        msg = w.mail(contact.emails[0], [rng.choice(REPS)], "Quick question")
        w.add(msg, "hard-two-deals", contacts=[contact], accounts=[account],
              opportunities=[opp])
    one_deal = [a for a in accounts if len(a.open_opportunities()) == 1]
    for account in one_deal[:3]:
        # A support question from a customer with a deal in flight: not about the deal.
        contact = next(c for c in account.contacts
                       if not any(c in o.roles for o in account.opportunities))
        msg = w.mail(contact.emails[0], [rng.choice(REPS)], "Login does not work")
        w.add(msg, "hard-support", contacts=[contact], accounts=[account])
    for a, b in zip(one_deal[3:11:2], one_deal[4:12:2], strict=True):
        # A joint mail to two customers: about neither deal.
        ca, cb = a.contacts[0], b.contacts[0]
        msg = w.mail(rng.choice(REPS), [ca.emails[0], cb.emails[0]], "Reference call")
        w.add(msg, "joint", contacts=[ca, cb], accounts=[a, b])
    for a, b in zip(one_deal[12:16:2], one_deal[13:17:2], strict=True):
        # Two customers use the same subject the same day: each mail is its own.
        for account in (a, b):
            contact = account.contacts[0]
            msg = w.mail(contact.emails[0], [REPS[0]], "Quarterly business review")
            deals = [o for o in account.open_opportunities() if contact in o.roles]
            w.add(msg, "same-subject", contacts=[contact], accounts=[account],
                  opportunities=deals or account.open_opportunities())


def idn_accounts(rng: random.Random) -> list[Account]:
    """Three accounts at international domains, written in the CRM as punycode, Unicode,
    and upper-case punycode; each has two contacts and one open deal."""
    forms = [lambda d: d.encode("idna").decode(), lambda d: d,
             lambda d: d.encode("idna").decode().upper()]
    accounts = []
    for n, form in zip(range(41, 44), forms, strict=True):
        domain = f"bücher{n}.example"
        account = Account(f"acc-{n}", f"Bücherstube {n}", [form(domain)])
        for k, (first, last) in enumerate([("Hans", "Weber"), ("Eva", "Jäger")]):
            local = f"{first}.{last}{k}".lower().replace("ä", "ae")
            account.contacts.append(
                Contact(f"c-{n}-{k}", first, last, [f"{local}@{form(domain)}"], account))
        opp = Opportunity(f"opp-{n}-0", f"{account.name} {WORDS[n % 12]}", account, True)
        opp.roles.append(account.contacts[0])
        account.opportunities.append(opp)
        accounts.append(account)
    return accounts


def _address_forms(w: Writer, accounts: list[Account], idn: list[Account]) -> None:
    """Mail that writes addresses as real mail does: each form, labelled by the rules."""
    for account in idn:
        contact, opp = account.contacts[0], account.opportunities[0]
        local, _, domain = contact.emails[0].partition("@")
        unicode_domain = domain.lower().encode("idna").decode("idna")
        for written in {f"{local}@{unicode_domain}",
                        f"{local}@{unicode_domain.encode('idna').decode()}",
                        f"{local.upper()}@{unicode_domain.upper()}"}:
            msg = w.mail(written, [w.rng.choice(REPS)], "Bestellung")
            w.add(msg, "idn-domain", contacts=[contact], accounts=[account],
                  opportunities=[opp])
        stranger = w.mail(f"einkauf@{unicode_domain}", [w.rng.choice(REPS)], "Angebot")
        w.add(stranger, "idn-domain-colleague", accounts=[account], opportunities=[opp])
    one_deal = [a for a in accounts if len(a.open_opportunities()) == 1]
    for account in one_deal[:8]:
        opp = account.open_opportunities()[0]
        contact = opp.roles[0]
        local, _, domain = contact.emails[0].partition("@")
        # a quoted local part that needs no quotes is the contact's own mailbox
        msg = w.mail(f'"{local}"@{domain}', [w.rng.choice(REPS)], "Quoted")
        w.add(msg, "quoted-local", contacts=[contact], accounts=[account], opportunities=[opp])
        # one that needs them is a valid address at the customer's domain
        msg = w.mail(f'Sales <"sales team"@{domain}>', [w.rng.choice(REPS)], "Team mailbox")
        w.add(msg, "quoted-local-team", accounts=[account], opportunities=[opp])
        # a real contact's address as the display name of a stranger's mailbox
        msg = w.mail(f"{contact.emails[0]} <billing@evil{w.rng.randrange(1000)}.example>",
                     [w.rng.choice(REPS)], "Invoice overdue")
        w.add(msg, "display-name-spoof", captured=False)
    two_deals = [a for a in accounts if len(a.open_opportunities()) == 2]
    for account in two_deals[:6]:
        first, second = account.open_opportunities()
        to, bcc = first.roles[0], second.roles[0]
        if to is bcc:
            continue
        # The rep's Sent copy carries Bcc to a role on the other deal; the customer's copy
        # does not: one mail about both deals, so about neither in particular.
        rep = w.rng.choice(REPS)
        sent = w.mail(rep, [to.emails[0]], "Proposal for both teams")
        received = EmailMessage()
        for name, value in sent.items():
            received[name] = value
        received.set_content(sent.get_content())
        sent["Bcc"] = bcc.emails[0]
        w.add(received, "bcc-copies", contacts=[to, bcc], accounts=[account])
        w.mails[-1].copies.append(sent)
    for account in one_deal[8:12]:
        # A stranger at a free-mail address replies into the customer's thread.
        opp = account.open_opportunities()[0]
        contact = opp.roles[0]
        rep = w.rng.choice(REPS)
        first = w.mail(contact.emails[0], [rep], "Delivery dates")
        w.add(first, "thread-start", contacts=[contact], accounts=[account],
              opportunities=[opp])
        reply = w.mail(f"assistant{w.rng.randrange(1000)}@gmail.com", [rep],
                       "Re: Delivery dates", parent=first)
        w.add(reply, "thread-unknown-sender", accounts=[account], opportunities=[opp])


def write_mails(mails: list[Mail]) -> None:
    path = HERE / "mailbox.mbox"
    path.unlink(missing_ok=True)
    box = mailbox.mbox(str(path))
    try:
        for mail in mails:
            for message in (mail.message, *mail.copies):
                # RFC 6532: international addresses are written in UTF-8, as mail carries them
                box.add(message.as_bytes(policy=SMTPUTF8.clone(linesep="\n")))
    finally:
        box.close()
    with open(HERE / "expected.jsonl", "w") as f:
        for mail in mails:
            f.write(json.dumps({
                "message_id": mail.message["Message-ID"],
                "scenario": mail.scenario,
                "captured": mail.captured,
                "links": {kind: sorted(ids) for kind, ids in mail.links.items()},
            }) + "\n")


def main() -> None:
    rng = random.Random(20260301)
    accounts = build_crm(rng)
    forms_rng = random.Random(20260318)
    idn = idn_accounts(forms_rng)
    write_crm(accounts + idn)
    mails = generate(accounts, rng)
    writer = Writer(forms_rng)
    writer.when = max(m.message["Date"].datetime for m in mails)
    _address_forms(writer, accounts, idn)
    mails += writer.mails
    write_mails(mails)
    print(f"{len(mails)} mails, {sum(m.captured for m in mails)} to capture")


if __name__ == "__main__":
    main()
