"""Each benchmark runs end to end at a tiny size, so bench/ never rots (numbers unchecked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import imap_ingest, latency, lookup, mailgen


def test_generated_mail_parses_as_the_crm_expects() -> None:
    # The generator's mix reaches every kind the issue asks for: threads, attachments, Chinese.
    factory = mailgen.MailFactory(mailgen.make_corpus(contacts=50, domains=10))
    raws = [raw for _when, raw in factory.messages(200)]
    assert any(b"In-Reply-To:" in raw for raw in raws)
    assert any(b"application/pdf" in raw for raw in raws)
    assert any(b"=?utf-8?" in raw for raw in raws)


def test_imap_ingest_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # All three tools sync the same small mailbox; the report ends with the ratio line.
    numbers = imap_ingest.main(["--messages", "60", "--new", "5", "--contacts", "40",
                                "--domains", "8", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("ratio crmsync/mbsync initial msgs/s: ")
    assert numbers["ratio"] > 0 and numbers["offlineimap_msgs_per_s"] > 0


def test_latency_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    # A few mails appended to the Inbox show up through the API via IMAP IDLE.
    numbers = latency.main(["--mails", "3", "--gap", "0"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("latency p50: ")
    assert numbers["max"] > 0


def test_lookup_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A tiny generated CRM answers lookups and timelines; the query count stays flat.
    numbers = lookup.main(["--scale", "0.001", "--requests", "20", "--workdir", str(tmp_path)])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("lookup p99: ")
    assert numbers["flat_queries"] == 1.0 and numbers["match_rate"] > 0
