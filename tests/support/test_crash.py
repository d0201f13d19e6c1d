"""F2 for acknowledgements: a crash around sending never sends twice nor loses a case's ack.

The sync runs as a separate process; the SMTP sink holds its session at a chosen step
and the test kills the process there with SIGKILL, then resumes with a fresh one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.conftest import ROOT, Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import ANA, Desk, mail
from tests.support.sinks import SmtpSink


def _kill_sync_at(desk: Desk, smtp: SmtpSink, step: str) -> None:
    smtp.handler.hold_at = step
    process = subprocess.Popen(
        [sys.executable, "-m", "crmsync", "sync", "--mailbox", desk.name, "--once"],
        cwd=ROOT, env={**os.environ, **desk.cli.env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert smtp.handler.reached.wait(60), "the sync never reached the SMTP " + step
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    smtp.handler.hold_at = None
    smtp.handler.release.set()


def test_crash_after_commit_before_the_body_is_sent_delivers_exactly_one(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # Killed after the case committed and while the acknowledgement's envelope was being
    # sent: the next run delivers it, once, and a re-sync queues no other.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    _kill_sync_at(desk, smtp, "RCPT")
    assert smtp.handler.messages == []
    desk.sync()
    desk.sync()
    assert len(smtp.handler.to(ANA[1])) == 1
    assert len(desk.cases()) == 1
    assert [row["status"] for row in desk.outbox()] == ["sent"]


def test_crash_after_the_server_took_the_body_never_resends(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # Killed after the server took the message but before crmsync recorded it as sent:
    # nothing is resent (the row stays "sending" for an admin to see), so exactly one.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    _kill_sync_at(desk, smtp, "DATA")
    desk.sync()
    cli("cases", "deliver")
    assert len(smtp.handler.to(ANA[1])) == 1
    assert [row["status"] for row in desk.outbox()] == ["sending"]
