"""F1 for Exchange: `kill -9` the sync at random points, restart it, nothing lost or doubled.

The oracle is the double's own mailbox (ItemId → Message-ID), compared with what SQL
holds: the same messages, each once, each copy once — also when the sync state of the
page being stored was lost with the process.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from crmsync.crm.models import Activity, ActivitySource, QuarantinedItem
from tests.conftest import ROOT, Cli, load_sample_crm
from tests.engine.test_crash_resume import _kill_during_sync
from tests.ews.helpers import add_ews_mailbox, mime
from tests.fakes.ews_server import EwsDouble

#: What these tests hold does not depend on the database (the engine's behaviour on
#: PostgreSQL is covered by test_ews_mail.py and the IMAP and Graph suites): SQLite only,
#: to keep the suite's time.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

KILLS = 6
MESSAGES = 160


def _run_sync(cli: Cli, ews: EwsDouble, name: str) -> subprocess.Popen:
    env = {**os.environ, **cli.env, "CRMSYNC_SYNC_BATCH_SIZE": "4",
           "REQUESTS_CA_BUNDLE": ews.ca_path}
    return subprocess.Popen(
        [sys.executable, "-m", "crmsync", "sync", "--mailbox", name, "--once"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def test_kill_9_mid_sync_then_exactly_once(cli: Cli, ews: EwsDouble) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    load_sample_crm(cli)
    name, address = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts")
    box = ews.mailbox(address)
    for n in range(MESSAGES):
        box.add_item("inbox", mime=mime(5000 + n))

    killed = target = 0
    for round_number in range(KILLS):
        process = _run_sync(cli, ews, name)
        target += rng.randint(1, 2 * MESSAGES // KILLS)
        killed += _kill_during_sync(process, cli, target, rng)
        process.wait()
        process.stdout.close()
        if round_number % 3 == 0:  # mail keeps arriving while we crash
            box.add_item("inbox", mime=mime(9000 + round_number))
    final = _run_sync(cli, ews, name)
    output = final.communicate(timeout=120)[0].decode()
    assert final.returncode == 0, output
    assert killed >= KILLS // 2, f"seed {seed}: only {killed} kills landed during a sync"

    inbox = box.folder("inbox").id
    truth = {item.id: f"<ews-{item.mime.split(b'<ews-')[1].split(b'@')[0].decode()}"
                      "@acme.example>"
             for item in box.items.values() if item.folder_id == inbox}
    with cli.session() as session:
        stored = dict(session.execute(
            select(ActivitySource.item_id, Activity.internet_message_id).join(Activity)).all())
        activities = session.scalar(select(func.count()).select_from(Activity))
        sources = session.scalar(select(func.count()).select_from(ActivitySource))
        quarantined = session.scalar(select(func.count()).select_from(QuarantinedItem))
    assert stored == truth, f"seed {seed}"
    assert sources == len(truth), f"seed {seed}: a copy was recorded twice"
    assert activities == len(set(truth.values())), f"seed {seed}: duplicate activities"
    assert quarantined == 0
