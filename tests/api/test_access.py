"""Every rep sees only what they may: two reps on different teams, each with a mailbox.

Maria (Sales EMEA) and Zhang Wei (Sales APAC) each sync a mailbox from a real Dovecot;
both hold mail about Acme, an account both may see. What one rep's mailbox holds stays
out of the other's answers (messages, timelines, lookups, the pane's context, template
matching) and out of reach of their writes (track, untrack, cases), unless the
organization shares it; private items stay their owner's. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from crmsync.crm.templates import ReplyTemplate
from crmsync.sync_service.web.app import create_app
from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.servers.dovecot import DovecotServer

MARIA = "maria.lopez@northwind.example"
WEI = "wei.zhang@northwind.example"
SAM = "sam.taylor@northwind.example"  # support agent
OLIVIA = "olivia.admin@northwind.example"  # admin, no team
MARIA_MAIL = "<fleet-pricing@acme.example>"
MARIA_PRIVATE = "<private-note@acme.example>"
WEI_MAIL = "<apac-question@acme.example>"
ACME = {"type": "account", "external_id": "acc-acme"}
GLOBEX = {"type": "account", "external_id": "acc-globex"}


def _mail(message_id: str, sender: str, to: str, subject: str, body: str,
          *headers: str) -> bytes:
    lines = [f"Message-ID: {message_id}", f"From: {sender}", f"To: {to}",
             f"Subject: {subject}", "Date: Tue, 03 Nov 2026 10:00:00 +0000", *headers,
             "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


@dataclass
class Office:
    cli: Cli
    client: FlaskClient
    keys: dict[str, dict[str, str]]

    def get(self, who: str, url: str):
        return self.client.get(url, headers=self.keys[who])

    def post(self, who: str, url: str, body: dict):
        return self.client.post(url, json=body, headers=self.keys[who])

    def links_of(self, message_id: str) -> list[tuple[str, str, str]]:
        [activity] = [a for a in self.cli.export_activities()
                      if a["internet_message_id"] == message_id]
        return sorted((x["type"], x["external_id"], x["source"]) for x in activity["links"])

    def timeline(self, who: str, record: str = "account/acc-acme") -> set[str]:
        answer = self.get(who, f"/api/v1/timeline/{record}?limit=50")
        assert answer.status_code == 200
        return {a["subject"] for a in answer.json["activities"]}


@pytest.fixture
def office(cli: Cli, dovecot: DovecotServer) -> Iterator[Office]:
    load_sample_crm(cli)
    cli("privacy", "set", "capture_sensitive", "on")
    maria, wei = new_user(dovecot), new_user(dovecot)
    dovecot.append(maria, "INBOX", _mail(MARIA_MAIL, "Ana Ruiz <ana.ruiz@acme.example>", MARIA,
                                         "Fleet pricing", "our secret discount is 17 percent"))
    dovecot.append(maria, "INBOX", _mail(MARIA_PRIVATE, "ana.ruiz@acme.example", MARIA,
                                         "Personal matter", "between us", "Sensitivity: Private"))
    dovecot.append(wei, "INBOX", _mail(WEI_MAIL, "Tom Becker <tom.becker@acme.example>", WEI,
                                       "APAC question", "can APAC order too"))
    add_mailbox(cli, dovecot, maria, "maria", "--owner", MARIA)
    add_mailbox(cli, dovecot, wei, "wei", "--owner", WEI)
    sync(cli, "maria")
    sync(cli, "wei")
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"]})
    keys = {who: {"Authorization": "Bearer " + cli("apikey", "create", who).output.strip()}
            for who in (MARIA, WEI, SAM, OLIVIA)}
    yield Office(cli, app.test_client(), keys)
    app.extensions["crmsync"].dispose()


def test_a_rep_never_reads_another_teams_mail(office: Office) -> None:
    messages = office.get(WEI, f"/api/v1/messages?internet_message_id={MARIA_MAIL}").json
    subjects = [m["subject"] for m in messages["messages"]]
    assert subjects == ["APAC question"]
    assert "secret discount" not in str(messages)
    assert office.timeline(WEI) == {"APAC question"}
    assert office.timeline(MARIA) == {"Fleet pricing", "Personal matter"}
    lookup = office.get(WEI, "/api/v1/lookup?address=ana.ruiz@acme.example").json
    # Acme's history as Wei may see it: his own mail, not Maria's
    assert [a["subject"] for a in lookup["recent_activities"]] == ["APAC question"]
    context = office.post(WEI, "/api/v1/context", {
        "internet_message_id": MARIA_MAIL, "subject": "Fleet pricing",
        "from": {"address": "ana.ruiz@acme.example", "name": "Ana Ruiz"}}).json
    assert context["tracking"]["stored"] is False and context["tracking"]["links"] == []
    assert [[a["subject"] for a in card["recent_activities"]]
            for card in context["participants"]] == [["APAC question"]]


def test_template_matching_never_reads_another_reps_mail(office: Office) -> None:
    with office.cli.session() as session:
        session.add(ReplyTemplate(name="Discounts", body="About discounts ...",
                                  keywords="discount", created_at=datetime.now(UTC)))
        session.commit()
    url = f"/api/v1/templates?internet_message_id={MARIA_MAIL}&subject=Hello"
    [mine] = office.get(MARIA, url).json["templates"]
    assert mine["matched"] == ["discount"]
    [theirs] = office.get(WEI, url).json["templates"]
    assert theirs["matched"] == []


def test_a_rep_cannot_change_links_on_another_reps_mail(office: Office) -> None:
    before = office.links_of(MARIA_MAIL)
    untrack = office.post(WEI, "/api/v1/untrack",
                          {"internet_message_id": MARIA_MAIL, "target": ACME})
    assert untrack.status_code == 404
    track = office.post(WEI, "/api/v1/track", {"internet_message_id": MARIA_MAIL,
                                               "target": GLOBEX})
    assert track.status_code == 200 and track.json["pending"] is True
    assert track.json["links"] == []  # nothing about Maria's mail is revealed
    case = office.post(WEI, "/api/v1/cases", {"subject": "Fleet", "description": "",
                                              "internet_message_id": MARIA_MAIL})
    assert case.status_code == 201 and case.json["linked_message"] is False
    office.cli("sync", "--once")  # Wei's pending choices never reach Maria's mail
    assert office.links_of(MARIA_MAIL) == before
    # Maria herself may.
    assert office.post(MARIA, "/api/v1/untrack",
                       {"internet_message_id": MARIA_MAIL, "target": ACME}).status_code == 200
    assert ("account", "acc-acme", "auto") not in office.links_of(MARIA_MAIL)


def test_tracking_unknown_mail_stores_nothing_and_the_synced_mail_wins(
    office: Office, dovecot: DovecotServer
) -> None:
    unknown = "<not-yet-synced@acme.example>"
    answer = office.post(MARIA, "/api/v1/track", {
        "internet_message_id": unknown, "target": GLOBEX,
        "item": {"subject": "FORGED subject", "from": {"address": "ana.ruiz@acme.example"}}})
    assert answer.status_code == 200
    assert answer.json["pending"] is True and answer.json["stored"] is False
    assert unknown not in {a["internet_message_id"]
                                       for a in office.cli.export_activities()}
    with office.cli.session() as session:
        from crmsync.crm.models import Mailbox

        user = session.query(Mailbox).filter_by(name="maria").one().settings["username"]
    dovecot.append(user, "INBOX", _mail(unknown, "ana.ruiz@acme.example", MARIA,
                                        "Real subject", "the real body"))
    sync(office.cli, "maria")
    [activity] = [a for a in office.cli.export_activities()
                  if a["internet_message_id"] == unknown]
    assert activity["subject"] == "Real subject"
    assert ("account", "acc-globex", "user") in office.links_of(unknown)


def test_sharing_setting_widens_what_reps_see_but_never_private_items(office: Office) -> None:
    office.cli("org", "set-sharing", "everyone")
    assert office.timeline(WEI) == {"APAC question", "Fleet pricing"}
    assert office.timeline(OLIVIA) == {"APAC question", "Fleet pricing"}
    office.cli("org", "set-sharing", "private")
    assert office.timeline(WEI) == {"APAC question"}
    assert office.timeline(MARIA) == {"Fleet pricing", "Personal matter"}
    assert office.timeline(SAM) == set()


def test_teammates_share_by_default(office: Office) -> None:
    # Zhang Wei moves to Maria's team: her mail (not her private note) is his to see.
    with office.cli.session() as session:
        from crmsync.crm.models import User

        maria = session.query(User).filter_by(email=MARIA).one()
        session.query(User).filter_by(email=WEI).one().team_id = maria.team_id
        session.commit()
    assert office.timeline(WEI) == {"APAC question", "Fleet pricing"}
