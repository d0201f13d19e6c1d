"""Generate a realistic sales mailbox and the CRM that knows its correspondents.

Deterministic for a given seed. The mix follows the corpus the benchmarks were
sized on (20,000 messages, 357 MB, about 18 KB on average): short plain mails, HTML
``multipart/alternative`` mails and a few with a 200 KB PDF attachment; From/To/Cc
across external contacts in a few hundred domains plus internal colleagues; threads
with In-Reply-To/References; non-ASCII names and subjects (German, Spanish, Norwegian,
Chinese) as RFC 2047 words.

Messages are written straight into a Maildir (``cur/``), which Dovecot indexes on
the first SELECT: generating 100,000 messages takes seconds, not an APPEND per mail.
"""

from __future__ import annotations

import base64
import csv
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime, formataddr
from pathlib import Path

INTERNAL_DOMAIN = "northwind.example"
OWNER = f"rep.owner@{INTERNAL_DOMAIN}"
ATTACHMENT_BYTES = 200 * 1024

_FIRST = [
    "Ana", "Tom", "Lena", "José", "Jürgen", "Zoë", "Øyvind", "Chloé", "Priya", "Kenji",
    "Olga", "Mateus", "Fatima", "Liam", "Sofía", "Noah", "Ingrid", "Raúl", "Aiko", "Marek",
]
_LAST = [
    "Ruiz", "Becker", "Müller", "García", "Smith", "Nakamura", "Kowalski", "Dubois",
    "Johansen", "Okafor", "Rossi", "Novák", "Silva", "Hansen", "Fernández", "Lefèvre",
]
_CHINESE = ["王伟", "李娜", "张敏", "刘洋", "陈静", "杨磊", "赵丽", "黄强"]
_SYLLABLES = ["ac", "me", "glo", "bex", "ini", "tech", "sol", "vant", "nor", "dia", "lux",
              "tra", "ver", "kon", "zen", "pro", "max", "sys", "tel", "cor"]
_TLDS = ["com", "de", "es", "co.uk", "fr", "cn", "io", "nl", "no", "it"]
_SUBJECTS = [
    "Quote for {n} units", "Renewal {y} – next steps", "Meeting notes {d}",
    "Invoice {n} overdue?", "Angebot Nr. {n} für Flottenerneuerung", "Propuesta revisada {n}",
    "关于{n}号订单的报价", "合同续签 {y} 年", "Støtte for integrasjon {n}", "Pilot results {d}",
    "Re: pricing question", "Lieferung verspätet – Bestellung {n}", "Demo request",
]
_WORDS = ("the quote we discussed covers delivery installation training and the first year "
          "of support please confirm the quantities and the billing address so we can "
          "prepare the contract our team is available next week for a call").split()


@dataclass
class Person:
    name: str
    address: str


@dataclass
class Corpus:
    """The people and organizations a generated mailbox talks to."""

    accounts: list[tuple[str, str, str]]  # external_id, name, domain
    contacts: list[tuple[str, Person, str]]  # external_id, person, account external_id
    colleagues: list[Person]
    strangers: list[Person]
    owner: Person = field(default_factory=lambda: Person("Rita Owner", OWNER))


def make_corpus(contacts: int = 2000, domains: int = 300, seed: int = 7) -> Corpus:
    """Return ``contacts`` external people spread over ``domains`` account domains."""
    rng = random.Random(seed)
    accounts = []
    for i in range(domains):
        stem = "".join(rng.sample(_SYLLABLES, 2)) + str(i)
        domain = f"{stem}.{rng.choice(_TLDS)}"
        suffix = rng.choice(["GmbH", "Ltd", "SA", "Inc", "有限公司"])
        accounts.append((f"acc-{i}", f"{stem.capitalize()} {suffix}", domain))
    people = []
    for i in range(contacts):
        ext, _name, domain = accounts[i % domains]
        name = _person_name(rng)
        local = f"p{i}.{_ascii(name.split()[-1])}".lower()
        people.append((f"c-{i}", Person(name, f"{local}@{domain}"), ext))
    colleagues = [Person(_person_name(rng), f"colleague{i}@{INTERNAL_DOMAIN}") for i in range(30)]
    strangers = [Person(_person_name(rng), f"news{i}@unknown{i % 50}.example") for i in range(200)]
    return Corpus(accounts, people, colleagues, strangers)


def _person_name(rng: random.Random) -> str:
    if rng.random() < 0.12:
        return rng.choice(_CHINESE)
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _ascii(text: str) -> str:
    return "".join(c for c in text if c.isascii() and c.isalnum()) or "x"


def write_crm(corpus: Corpus, directory: Path, opportunities: int = 600) -> dict[str, Path]:
    """Write the four ``crmsync crm import`` CSV files; return their paths by option name."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {k: directory / f"{k}.csv" for k in ("users", "accounts", "contacts", "opportunities")}
    _write(paths["users"], ["email", "name", "role", "team"],
           [[OWNER, corpus.owner.name, "rep", "Sales"]]
           + [[p.address, p.name, "rep", "Sales"] for p in corpus.colleagues])
    _write(paths["accounts"], ["external_id", "name", "domains", "owner_email"],
           [[ext, name, domain, OWNER] for ext, name, domain in corpus.accounts])
    _write(paths["contacts"],
           ["external_id", "first_name", "last_name", "emails", "phone", "title",
            "account_external_id"],
           [[ext, *_split_name(p.name), p.address, "", "Buyer", acc]
            for ext, p, acc in corpus.contacts])
    by_account = {acc: p.address for _ext, p, acc in corpus.contacts}
    _write(paths["opportunities"],
           ["external_id", "name", "account_external_id", "stage", "amount", "close_date",
            "owner_email", "contact_emails"],
           [[f"opp-{i}", f"Deal {i}", ext, "Closed Won" if i % 4 == 0 else "Proposal",
             str(1000 * (i + 1)), "2027-06-30", OWNER, by_account.get(ext, "")]
            for i, (ext, _n, _d) in zip(range(opportunities),
                                        corpus.accounts * (opportunities // len(corpus.accounts)
                                                           + 1), strict=False)])
    return paths


def _split_name(name: str) -> list[str]:
    first, _, last = name.partition(" ")
    return [first, last]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


class MailFactory:
    """Make the messages of one mailbox, in arrival order."""

    def __init__(self, corpus: Corpus, seed: int = 11, start: datetime | None = None) -> None:
        self.corpus = corpus
        self.rng = random.Random(seed)
        self.start = start or datetime.now(UTC) - timedelta(days=60)
        self._threads: list[tuple[str, list[str]]] = []  # subject, message-ids
        blob = random.Random(seed).randbytes(ATTACHMENT_BYTES)
        self._attachment = base64.encodebytes(blob).replace(b"\n", b"\r\n")
        self.count = 0

    def messages(self, n: int, span: timedelta = timedelta(days=59)) -> Iterator[tuple[datetime,
                                                                                    bytes]]:
        """Yield ``(date, raw)`` for ``n`` messages spread over ``span`` from the start."""
        step = span / max(n, 1)
        for i in range(n):
            when = self.start + step * i
            yield when, self.make(when)

    def make(self, when: datetime) -> bytes:
        """Return one message dated ``when``."""
        rng = self.rng
        self.count += 1
        sender, to, cc = self._parties()
        subject, refs = self._thread()
        mid = f"<m{self.count}.{rng.getrandbits(40):x}@{sender.address.split('@')[1]}>"
        headers = [
            f"From: {_addr(sender)}",
            f"To: {', '.join(_addr(p) for p in to)}",
        ]
        if cc:
            headers.append(f"Cc: {', '.join(_addr(p) for p in cc)}")
        headers += [f"Subject: {_encode(subject if not refs else 'Re: ' + subject)}",
                    f"Date: {format_datetime(when)}", f"Message-ID: {mid}"]
        if refs:
            headers += [f"In-Reply-To: {refs[-1]}", f"References: {' '.join(refs[-10:])}"]
        refs.append(mid)
        headers.append("MIME-Version: 1.0")
        return self._body(headers, subject)

    def _parties(self) -> tuple[Person, list[Person], list[Person]]:
        rng, corpus = self.rng, self.corpus
        contact = rng.choice(corpus.contacts)[1]
        roll = rng.random()
        if roll < 0.55:  # a customer writes to the rep
            sender, to = contact, [corpus.owner]
        elif roll < 0.80:  # the rep writes to customers
            sender, to = corpus.owner, [contact] + ([rng.choice(corpus.contacts)[1]]
                                                    if rng.random() < 0.2 else [])
        elif roll < 0.90:  # internal only: counted, never stored
            sender, to = rng.choice(corpus.colleagues), [corpus.owner]
        else:  # newsletters and strangers: not in the CRM
            sender, to = rng.choice(corpus.strangers), [corpus.owner]
        cc = [rng.choice(corpus.colleagues)] if rng.random() < 0.3 else []
        return sender, to, cc

    def _thread(self) -> tuple[str, list[str]]:
        rng = self.rng
        if self._threads and rng.random() < 0.4:
            return rng.choice(self._threads[-200:])
        subject = rng.choice(_SUBJECTS).format(n=rng.randint(100, 99999), y=2027,
                                               d=f"{rng.randint(1, 28)}.{rng.randint(1, 12)}.")
        thread: tuple[str, list[str]] = (subject, [])
        self._threads.append(thread)
        return thread

    def _body(self, headers: list[str], subject: str) -> bytes:
        rng = self.rng
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(60, 400)))
        text = f"Hello,\r\n\r\n{words}\r\n\r\n{subject}\r\n\r\n-- \r\nBest regards\r\n"
        roll = rng.random()
        if roll < 0.60:
            headers += ["Content-Type: text/plain; charset=utf-8",
                        "Content-Transfer-Encoding: 8bit"]
            return _join(headers, text.encode())
        html = f"<html><body><p>{text.replace(chr(13) + chr(10), '<br>')}</p>" + (
            "<div style='color:#333'>" + words + "</div>" * 1) + "</body></html>"
        alternative = _multipart("alternative", [
            (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit",
             text.encode()),
            (b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit",
             (html * 3).encode()),
        ], f"alt{self.count}")
        if roll < 0.94:
            return _join(headers, alternative[1], alternative[0])
        pdf = (b"Content-Type: application/pdf; name=\"quote.pdf\"\r\n"
               b"Content-Disposition: attachment; filename=\"quote.pdf\"\r\n"
               b"Content-Transfer-Encoding: base64")
        mixed = _multipart("mixed", [alternative, (pdf, self._attachment)], f"mix{self.count}")
        return _join(headers, mixed[1], mixed[0])


def _addr(person: Person) -> str:
    return formataddr((person.name, person.address), charset="utf-8")


def _encode(text: str) -> str:
    return text if text.isascii() else Header(text, "utf-8").encode()


def _multipart(subtype: str, parts: list[tuple[bytes, bytes]], boundary: str
               ) -> tuple[bytes, bytes]:
    """Return (Content-Type header, body) of a multipart of ``(headers, body)`` parts."""
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + h + b"\r\n\r\n" + b + b"\r\n"
                    for h, b in parts) + b"--" + boundary.encode() + b"--\r\n"
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"'.encode(), body


def _join(headers: list[str], body: bytes, content_type: bytes | None = None) -> bytes:
    head = "\r\n".join(headers).encode()
    if content_type is not None:
        head += b"\r\n" + content_type
    return head + b"\r\n\r\n" + body


def write_maildir(maildir: Path, messages: Iterator[tuple[datetime, bytes]],
                  owner: int | None = None, start: int = 0) -> tuple[int, int]:
    """Write messages into ``maildir/cur`` (``\\Seen``), mtime = date; return (count, bytes).

    :param owner: uid/gid to give the files (Dovecot's mail user when running as root).
    """
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    count = total = 0
    for when, raw in messages:
        stamp = int(when.timestamp())
        path = maildir / "cur" / f"{stamp}.M{start + count}P1.bench,S={len(raw)}:2,S"
        path.write_bytes(raw)
        os.utime(path, (stamp, stamp))
        if owner is not None:
            os.chown(path, owner, owner)
        count += 1
        total += len(raw)
    if owner is not None:
        for dirpath, _dirs, _files in os.walk(maildir.parent):
            os.chown(dirpath, owner, owner)
    return count, total
