"""B1: fuzzed MIME interleaved with good mail; nothing crashes, nothing good is lost.

A seeded mutation corpus (truncation, NUL bytes, raw 8-bit and malformed RFC 2047
headers, unknown charsets and transfer encodings, broken boundaries, missing and
duplicate Message-IDs, Exchange ``<[..]@..>`` ids) is imported through the same
pipeline as a mailbox, ten good mails after each bad one.
"""

from __future__ import annotations

import mailbox
import os
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crmsync.crm.models import Activity, QuarantinedItem
from tests.conftest import Cli, load_sample_crm
from tests.engine.mails import ANA, TOM, make_mail

FUZZED = int(os.environ.get("CRMSYNC_B1_MESSAGES", "1000"))
GOOD_PER_BAD = 10

Mutation = Callable[[bytes, random.Random], bytes]


def _truncate(raw: bytes, rng: random.Random) -> bytes:
    if len(raw) < 2:  # already cut to one byte by an earlier mutation: nothing left to cut
        return raw
    return raw[: rng.randrange(1, len(raw))]


def _nul_bytes(raw: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(raw))
    return raw[:at] + b"\x00" * rng.randint(1, 8) + raw[at:]


def _raw_8bit_header(raw: bytes, rng: random.Random) -> bytes:
    name = rng.choice(["张伟", "Müller", "Ñandú", "Żółć"]).encode(rng.choice(["utf-8", "gb18030"]))
    return raw.replace(b"From: ", b"From: " + name + b" ", 1)


def _bad_encoded_word(raw: bytes, rng: random.Random) -> bytes:
    word = rng.choice([b"=?x-unknown?B?5byg5Lyf?=", b"=?utf-8?B?not*base64?=", b"=?gb2312?Q?=ZZ?=",
                       b"=?utf-8?Q?unterminated", b"=?=?=?"])
    return re.sub(rb"Subject: [^\r\n]*", b"Subject: " + word, raw, count=1)


def _bad_transfer_encoding(raw: bytes, rng: random.Random) -> bytes:
    header = rng.choice([b"base64", b"x-uuencode", b"quoted-printable", b"8bit\x00"])
    return raw.replace(b"Content-Transfer-Encoding: 7bit",
                       b"Content-Transfer-Encoding: " + header).replace(b"Hello", b"=ZZ=\xff")


def _broken_boundary(raw: bytes, rng: random.Random) -> bytes:
    head, _, _ = raw.partition(b"\n\n")
    head = re.sub(rb"Content-Type: [^\n]*", b'Content-Type: multipart/mixed; boundary="b1"', head)
    body = b"--b1\nContent-Type: text/plain\n\nfirst part\n--b2\n" + bytes(
        rng.randrange(256) for _ in range(rng.randint(0, 200))
    )
    return head + b"\n\n" + body


def _message_id_games(raw: bytes, rng: random.Random) -> bytes:
    choice = rng.choice([b"", b"<[10.1.2.3]@exchange.example>", b"<dup@fuzz.example>",
                         b"not-an-id", b"<" + b"x" * 2000 + b"@long.example>"])
    return re.sub(rb"Message-ID: [^\n]*\n", b"Message-ID: " + choice + b"\n" if choice else b"",
                  raw, count=1)


def _garbage(raw: bytes, rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))


MUTATIONS: list[Mutation] = [
    _truncate, _nul_bytes, _raw_8bit_header, _bad_encoded_word, _bad_transfer_encoding,
    _broken_boundary, _message_id_games, _garbage,
]


def _write_corpus(path: Path, rng: random.Random) -> tuple[int, set[str]]:
    """Write the mbox; return how many messages it holds and the good mails' Message-IDs."""
    box = mailbox.mbox(path)
    good: set[str] = set()
    count = 0
    try:
        for n in range(FUZZED):
            seed = make_mail(10_000 + n, sender=rng.choice([ANA, TOM])).replace(b"\r\n", b"\n")
            for _ in range(rng.randint(1, 3)):
                seed = rng.choice(MUTATIONS)(seed, rng)
            box.add(seed)
            for k in range(GOOD_PER_BAD):
                number = n * GOOD_PER_BAD + k
                box.add(make_mail(number, sender=TOM))
                good.add(f"<m{number}@test.example>")
            count += 1 + GOOD_PER_BAD
        box.flush()
    finally:
        box.close()
    return count, good


def _counted(output: str) -> int:
    """Sum what the import report says it did with each message."""
    kinds = ("captured", "merged", "quarantined", "skipped: ")
    return sum(
        int(number)
        for number, kind in re.findall(r"(\d+) ([a-z]+(?:: )?)", output)
        if kind in kinds
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fuzzed_mime_never_blocks_good_mail(cli: Cli, tmp_path: Path) -> None:
    # Every good mail after a bad one is stored; every message is accounted for.
    seed = random.randrange(1 << 30)
    count, good = _write_corpus(tmp_path / "fuzz.mbox", random.Random(seed))
    load_sample_crm(cli)
    output = cli("mail", "import", str(tmp_path / "fuzz.mbox")).output
    assert "files: ok" in output, f"seed {seed}: {output}"
    assert _counted(output) == count, f"seed {seed}: {output}"
    with cli.session() as session:
        stored = set(session.scalars(select(Activity.internet_message_id)))
        reasons = set(session.scalars(select(QuarantinedItem.reason)))
        quarantined = session.scalar(select(func.count()).select_from(QuarantinedItem))
    assert good <= stored, f"seed {seed}: good mail lost: {sorted(good - stored)[:5]}"
    assert all(reason.strip() for reason in reasons)
    assert quarantined > 0, f"seed {seed}: the corpus should contain unreadable mail"
