"""F1: `kill -9` the sync at random points, restart it, and nothing is lost or doubled.

The oracle reads the server with an independent IMAP client (UID, Message-ID) and
compares it with what SQL holds: the same messages, each once, each copy once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from crmsync.crm.models import Activity, ActivitySource, QuarantinedItem
from tests.conftest import ROOT, Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user
from tests.engine.mails import ANA, TOM, make_mail
from tests.servers.dovecot import DovecotServer

KILLS = int(os.environ.get("CRMSYNC_F1_KILLS", "12"))
MESSAGES = 400


def _server_truth(server: DovecotServer, user: str) -> dict[str, str]:
    """item id → Message-ID of every message in INBOX, read straight from the server."""
    with server.connect(user) as client:
        status = client.select_folder("INBOX", readonly=True)
        validity = status[b"UIDVALIDITY"]
        fetched = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    truth = {}
    for uid, data in fetched.items():
        header = data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().strip()
        truth[f"{validity}:{uid}"] = header.split(":", 1)[1].strip()
    return truth


def _run_sync(cli: Cli, name: str) -> subprocess.Popen:
    env = {**os.environ, **cli.env, "CRMSYNC_SYNC_BATCH_SIZE": "4"}
    return subprocess.Popen(
        [sys.executable, "-m", "crmsync", "sync", "--mailbox", name, "--once"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _kill_during_sync(process: subprocess.Popen, cli: Cli, target: int, rng: random.Random) -> bool:
    """SIGKILL ``process`` once ``target`` copies are stored, a random instant later."""
    deadline = time.monotonic() + 60
    with cli.session() as session:
        while process.poll() is None and time.monotonic() < deadline:
            stored = session.scalar(select(func.count()).select_from(ActivitySource))
            session.rollback()  # a fresh snapshot on the next read
            if stored >= target:
                time.sleep(rng.uniform(0, 0.02))
                process.send_signal(signal.SIGKILL)
                return True
            time.sleep(0.003)
    return False


def test_kill_9_at_random_points_then_exactly_once(cli: Cli, dovecot: DovecotServer) -> None:
    # Crashes anywhere (inside FETCH, between a page's rows and its cursor, mid-commit)
    # resume with every message stored exactly once and every copy recorded once.
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    load_sample_crm(cli)
    user = new_user(dovecot)
    for n in range(MESSAGES):
        dovecot.append(user, "INBOX", make_mail(n, sender=TOM if n % 3 else ANA))
    name = add_mailbox(cli, dovecot, user)

    killed = target = 0
    for round_number in range(KILLS):
        process = _run_sync(cli, name)
        target += rng.randint(1, 2 * MESSAGES // KILLS)
        killed += _kill_during_sync(process, cli, target, rng)
        process.wait()
        process.stdout.close()
        if round_number % 3 == 0:  # mail keeps arriving while we crash
            dovecot.append(user, "INBOX", make_mail(1000 + round_number))
    final = _run_sync(cli, name)
    output = final.communicate(timeout=120)[0].decode()
    assert final.returncode == 0, output
    assert killed >= KILLS // 2, f"seed {seed}: only {killed} kills landed during a sync"

    truth = _server_truth(dovecot, user)
    with cli.session() as session:
        stored = dict(
            session.execute(
                select(ActivitySource.item_id, Activity.internet_message_id).join(Activity)
            ).all()
        )
        activity_count = session.scalar(select(func.count()).select_from(Activity))
        source_count = session.scalar(select(func.count()).select_from(ActivitySource))
        quarantined = session.scalar(select(func.count()).select_from(QuarantinedItem))
    assert stored == truth, f"seed {seed}"
    assert source_count == len(truth), f"seed {seed}: a copy was recorded twice"
    assert activity_count == len(set(truth.values())), f"seed {seed}: duplicate activities"
    assert quarantined == 0
