"""Two syncs at once over mailboxes that hold the same mail: merged, never quarantined.

Many reps receive the same customer mail. When two ``crmsync sync --once`` processes
store two copies of one message at the same moment, one of them inserts the activity
first and the other runs into the dedupe key's unique index. That copy must become one
more source of the same activity (a merge), as it would have a second later, not a
quarantined item, and its mailbox must not report a clean run that lost a copy.
Runs on PostgreSQL (READ COMMITTED, real overlap) and on SQLite (writers take turns).
A duplicate that no retry resolves is still quarantined, and its mailbox says so.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

from sqlalchemy import select, text

from crmsync.crm.models import Activity, ActivitySource, Mailbox, QuarantinedItem
from crmsync.sync_service.engine.isolate import RACE_RETRIES
from tests.conftest import ROOT, Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import ANA, TOM, make_mail
from tests.servers.dovecot import DovecotServer

MAILBOXES = 20
#: messages the mailboxes share: each holds about :data:`SHARE` of them, so new
#: Message-IDs keep turning up in several mailboxes at once all through the run
MESSAGES = 400
SHARE = 0.3
PROCESSES = 4
#: a mailbox in one page: a page the database refuses is stored again item by item,
#: long enough for another process to insert (uncommitted) what it reaches next
BATCH = "500"


def _start_sync(cli: Cli) -> subprocess.Popen:
    """Start ``crmsync sync --once`` over every mailbox, as another shell would."""
    env = {**os.environ, **cli.env, "CRMSYNC_SYNC_BATCH_SIZE": BATCH}
    return subprocess.Popen(
        [sys.executable, "-m", "crmsync", "sync", "--once"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _fill_mailboxes(cli: Cli, dovecot: DovecotServer) -> set[tuple[str, str]]:
    """Give each of :data:`MAILBOXES` new users a random share of the same messages.

    :returns: every (mailbox name, Message-ID) the mailboxes hold.
    """
    rng = random.Random(17)
    held = set()
    for _ in range(MAILBOXES):
        user = new_user(dovecot)
        numbers = [n for n in range(MESSAGES) if rng.random() < SHARE]
        dovecot.append_many(user, "INBOX",
                            [make_mail(n, sender=TOM if n % 2 else ANA) for n in numbers])
        name = add_mailbox(cli, dovecot, user)
        held |= {(name, f"<m{n}@test.example>") for n in numbers}
    return held


def test_syncs_racing_over_shared_mail_merge_every_copy(cli: Cli, dovecot: DovecotServer
                                                         ) -> None:
    # Processes syncing mailboxes that share messages at once: each message is one
    # activity, each copy one source of it, nothing quarantined, every mailbox "ok".
    load_sample_crm(cli)
    held = _fill_mailboxes(cli, dovecot)

    processes = [_start_sync(cli) for _ in range(PROCESSES)]
    outputs = [p.communicate(timeout=120)[0].decode() for p in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output

    with cli.session() as session:
        quarantined = session.scalars(select(QuarantinedItem.reason)).all()
        activities = session.scalars(select(Activity.internet_message_id)).all()
        sources = session.execute(
            select(Mailbox.name, Activity.internet_message_id)
            .join(ActivitySource, ActivitySource.mailbox_id == Mailbox.id)
            .join(Activity, Activity.id == ActivitySource.activity_id)).all()
    assert quarantined == [], f"{len(quarantined)} quarantined"
    assert sorted(activities) == sorted({message_id for _, message_id in held})
    assert len(sources) == len(held) and set(sources) == held  # each copy a source, once
    listed = [json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines()]
    assert {row["name"]: (row["status"], row["last_error"]) for row in listed} == dict.fromkeys(
        {name for name, _ in held}, ("ok", None))


def test_duplicate_key_that_persists_is_quarantined_and_the_mailbox_says_so(
        cli: Cli, dovecot: DovecotServer) -> None:
    # A duplicate no retry resolves (here a test-only unique index on the subject, which
    # two different mails share) is quarantined after the retries with a reason saying
    # so, and the mailbox reports it instead of looking clean.
    load_sample_crm(cli)
    with cli.session() as session:
        session.execute(text("CREATE UNIQUE INDEX t_one_subject ON activities (subject)"))
        session.commit()
    user = new_user(dovecot)
    dovecot.append_many(user, "INBOX", [make_mail(n, subject="Same subject") for n in (1, 2)])
    name = add_mailbox(cli, dovecot, user)

    out = cli("sync", "--mailbox", name, "--once").output
    with cli.session() as session:
        [reason] = session.scalars(select(QuarantinedItem.reason)).all()
    assert "1 captured" in out and "1 quarantined" in out
    assert f"as a duplicate {RACE_RETRIES + 1} times" in reason
    [row] = [json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines()]
    assert row["status"] == "ok"
    assert row["last_error"] == "1 item quarantined: `crmsync quarantine list` says why"
