"""F4 for the outbox: a deliverer paused past its claim cannot send once another took over.

Every claim of an outbox row raises its ``attempts``, the claim's fencing token; the
point of no return (``claimed`` → ``sending``) commits only on the deliverer's own token.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from crmsync.crm.support import OutboxMessage
from tests.conftest import ROOT, Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import ANA, Desk, mail
from tests.support.sinks import SmtpSink


def test_a_deliverer_paused_past_its_claim_never_sends_after_a_takeover(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink
) -> None:
    # Paused while its envelope went out, the first deliverer wakes after a second one
    # delivered the acknowledgement: it sends no body, so the customer gets one copy.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    smtp.handler.hold_at = "RCPT"
    zombie = subprocess.Popen(
        [sys.executable, "-m", "crmsync", "sync", "--mailbox", desk.name, "--once"],
        cwd=ROOT, env={**os.environ, **cli.env}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert smtp.handler.reached.wait(60), "the sync never reached the SMTP envelope"
        zombie.send_signal(signal.SIGSTOP)
        with cli.session() as session:  # its claim runs out while it is stopped
            session.execute(update(OutboxMessage).values(
                claim_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
            session.commit()
        smtp.handler.hold_at = None
        smtp.handler.release.set()
        cli("cases", "deliver")
        assert len(smtp.handler.to(ANA[1])) == 1
    finally:
        zombie.send_signal(signal.SIGCONT)
    output = zombie.communicate(timeout=60)[0].decode()

    assert len(smtp.handler.to(ANA[1])) == 1
    assert "not sent: another deliverer claimed this row since" in output
    [row] = desk.outbox()
    assert (row["status"], row["attempts"]) == ("sent", 2)
