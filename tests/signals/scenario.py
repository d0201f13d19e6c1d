"""A relationship history relative to now, in Maria's and Wei's mailboxes on Dovecot.

- Maria and Ana (Acme): a two-way thread every week for ten weeks, the last one 25 days
  ago: Acme is going quiet for Maria (25 > 3 × 7 days).
- Maria's newsletter to Hank (Globex), never answered: no exchange.
- Wei (another team) and Tom (Acme): one two-way thread two days ago, in Wei's mailbox:
  Maria never sees it, so it never counts for her.
- A meeting of Maria's with Ana 40 days ago, imported from an .ics (the organization's).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import Cli
from tests.followups.helpers import ANA, HANK, MARIA, WEI, RepMailbox, mail
from tests.servers.dovecot import DovecotServer

TOM = ("Tom Becker", "tom.becker@acme.example")


def build(cli: Cli, dovecot: DovecotServer, tmp: Path) -> datetime:
    """Store the history; return the instant it is relative to."""
    now = datetime.now(UTC).replace(microsecond=0)
    maria = RepMailbox(cli, dovecot, MARIA)
    wei = RepMailbox(cli, dovecot, WEI, load_crm=False)
    for week in range(10):
        asked = now - timedelta(days=25 + 7 * week, hours=3)
        maria.receive(mail(f"a{week}", ANA, MARIA, asked, f"Week {week}"))
        maria.receive(mail(f"r{week}", MARIA, ANA, asked + timedelta(hours=1), f"Re: Week {week}",
                           In_Reply_To=f"<a{week}@test.example>",
                           References=f"<a{week}@test.example>"), folder="Sent")
    maria.receive(mail("news", MARIA, HANK, now - timedelta(days=3), "Our newsletter"),
                  folder="Sent")
    wei.receive(mail("t1", TOM, WEI, now - timedelta(days=2, hours=3), "Integration"))
    wei.receive(mail("t2", WEI, TOM, now - timedelta(days=2, hours=2), "Re: Integration",
                     In_Reply_To="<t1@test.example>", References="<t1@test.example>"),
                folder="Sent")
    maria.sync()
    wei.sync()
    met = now - timedelta(days=40)
    ics = tmp / "meeting.ics"
    ics.write_text("\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//signals//EN", "BEGIN:VEVENT",
        "UID:fleet-review@test.example", f"DTSTAMP:{met:%Y%m%dT%H%M%SZ}",
        f"DTSTART:{met:%Y%m%dT%H%M%SZ}", f"DTEND:{met + timedelta(hours=1):%Y%m%dT%H%M%SZ}",
        "SUMMARY:Fleet review", f"ORGANIZER;CN=Maria Lopez:mailto:{MARIA[1]}",
        f"ATTENDEE;CN=Ana Ruiz:mailto:{ANA[1]}", "END:VEVENT", "END:VCALENDAR", ""]))
    cli("calendar", "import", str(ics))
    return now
