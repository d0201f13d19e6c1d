"""Linking against a real Dovecot: thread inheritance, rules preview, erasure, re-sync."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.engine.mails import sample_mailbox
from tests.servers.dovecot import DovecotServer

DATA = Path(__file__).resolve().parent.parent / "data" / "calendar"

REPLY = (
    b"Message-ID: <reply-x@gmail.com>\r\nFrom: someone.new@gmail.com\r\n"
    b"To: maria.lopez@northwind.example\r\nSubject: Re: anything\r\n"
    b"In-Reply-To: <demo-001@mail.example>\r\nReferences: <demo-001@mail.example>\r\n"
    b"Date: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\nAgreed.\r\n"
)


def test_preview_then_sync_then_erase(cli: Cli, dovecot: DovecotServer) -> None:
    # Preview writes nothing; the sync matches it; a reply from a stranger inherits the
    # thread's deal; an erased sender does not come back on the next sync.
    load_sample_crm(cli)
    user = new_user(dovecot)
    for raw in sample_mailbox():
        dovecot.append(user, "INBOX", raw)
    dovecot.append(user, "INBOX", REPLY)
    name = add_mailbox(cli, dovecot, user)
    preview = cli("rules", "preview", "--mailbox", name).output
    assert "would 11 capture" in preview and cli.export_activities() == []
    assert "11 captured" in sync(cli, name)
    reply = next(a for a in cli.export_activities()
                 if a["internet_message_id"] == "<reply-x@gmail.com>")
    assert ("opportunity", "opp-1") in {(x["type"], x["external_id"]) for x in reply["links"]}
    assert any("conversation" in x["reason"] for x in reply["links"])
    cli("privacy", "erase", "someone.new@gmail.com")
    dovecot.append(user, "INBOX", REPLY.replace(b"reply-x", b"reply-y"))
    out = sync(cli, name)
    assert "skipped: a participant was erased or opted out" in out
    assert all("someone.new" not in str(a) for a in cli.export_activities())


def _invitation(uid: str) -> bytes:
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260301T000000Z\r\n"
        'DTSTART;TZID="W. Europe Standard Time":20260310T100000\r\n'
        'DTEND;TZID="W. Europe Standard Time":20260310T110000\r\nSUMMARY:Fleet review\r\n'
        "ORGANIZER;CN=Ana:mailto:ana.ruiz@acme.example\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:maria.lopez@northwind.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    encoded = base64.encodebytes(ics.encode()).replace(b"\n", b"\r\n")
    return (
        b"Message-ID: <" + uid.encode() + b"@acme.example>\r\nFrom: ana.ruiz@acme.example\r\n"
        b"To: maria.lopez@northwind.example\r\nSubject: Invitation: Fleet review\r\n"
        b"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nJoin us.\r\n"
        b"--b1\r\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b1--\r\n"
    )


def test_itip_invitation_in_imap_becomes_a_meeting(cli: Cli, dovecot: DovecotServer) -> None:
    # An invitation a customer sent lands in the rep's inbox; after one sync the CRM shows
    # the meeting at the right UTC instant, linked to the customer, besides the mail itself.
    load_sample_crm(cli)
    user = new_user(dovecot)
    dovecot.append(user, "INBOX", _invitation("imap-invite-1"))
    dovecot.append(user, "INBOX", (DATA / "repeat-event.eml").read_bytes())
    name = add_mailbox(cli, dovecot, user)
    sync(cli, name)
    activities = cli.export_activities()
    [meeting] = [a for a in activities if a["ical_uid"] == "imap-invite-1"]
    assert meeting["kind"] == "meeting" and meeting["occurred_at"] == "2026-03-10T09:00:00Z"
    assert ("contact", "c-1") in {(x["type"], x["external_id"]) for x in meeting["links"]}
    assert any(a["kind"] == "email" and a["internet_message_id"] == "<imap-invite-1@acme.example>"
               for a in activities)
    sync(cli, name)
    assert len(cli.export_activities()) == len(activities)
