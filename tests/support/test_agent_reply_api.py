"""``POST /api/v1/cases/<number>/reply``: the API's agent reply and its access rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from crmsync.sync_service.web.app import create_app
from tests.conftest import Cli
from tests.servers.dovecot import DovecotServer
from tests.support.helpers import ANA, Desk, mail
from tests.support.sinks import SmtpSink

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SAM = "sam.taylor@northwind.example"  # agent, team Support
OLIVIA = "olivia.admin@northwind.example"  # admin
WEI = "wei.zhang@northwind.example"  # rep, Sales APAC: sees no support mail
MARIA = "maria.lopez@northwind.example"  # rep, owns the support mailbox


@pytest.fixture
def app(cli: Cli) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                      "SECRET_KEY": cli.env["CRMSYNC_SECRET_KEY"]})
    yield app
    app.extensions["crmsync"].dispose()


def _key(cli: Cli, who: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + cli("apikey", "create", who).output.strip()}


def test_an_agent_replies_from_the_api_and_it_is_sent_once(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, app: Flask
) -> None:
    # 202 with the reply's Message-ID; the outbox sends it once, even when posted twice
    # with the same client key.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    desk.sync()
    client, key = app.test_client(), _key(cli, SAM)
    body = {"body": "We are on it.", "client_key": "click-1"}
    first = client.post("/api/v1/cases/CASE-000001/reply", json=body, headers=key)
    again = client.post("/api/v1/cases/CASE-000001/reply", json=body, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json["message_id"] == again.json["message_id"]
    assert first.json["activity_id"] is not None
    cli("cases", "deliver")
    replies = [m for m in smtp.handler.to(ANA[1]) if m["Auto-Submitted"] is None]
    assert len(replies) == 1 and replies[0]["Message-ID"] == first.json["message_id"]
    assert "We are on it." in replies[0].get_content()
    [case] = desk.cases()
    assert case["first_response_at"] is not None


def test_replies_follow_who_may_see_and_answer_the_case(
    cli: Cli, dovecot: DovecotServer, smtp: SmtpSink, app: Flask, tmp_path: Path
) -> None:
    # Another team's queue: 403; a private item: 404 for all but its owner; a rep who does
    # not see support mail: 404; nothing queued by any refusal, never a 5xx.
    desk = Desk(cli, dovecot, smtp)
    cli("user", "add", "billing.agent@northwind.example", "--role", "agent",
        "--team", "Billing")
    cli("privacy", "set", "capture_sensitive", "on")
    rules = tmp_path / "rules.csv"
    rules.write_text("name,keywords,queue\ninvoices,invoice,Billing\n", encoding="utf-8")
    cli("cases", "rules", "import", str(rules))
    desk.receive(mail(1, subject="Invoice wrong"))  # CASE-000001, Billing's queue
    desk.receive(mail(2, subject="Secret matter", Sensitivity="Private"))  # CASE-000002
    desk.sync()
    client = app.test_client()

    def reply(who: str, number: str) -> int:
        answer = client.post(f"/api/v1/cases/{number}/reply", json={"body": "Hello"},
                             headers=_key(cli, who))
        assert answer.status_code < 500, answer.get_data(as_text=True)
        return answer.status_code

    assert reply(SAM, "CASE-000001") == 403
    assert reply(WEI, "CASE-000001") == 404
    assert reply(SAM, "CASE-000002") == 404
    assert reply(OLIVIA, "CASE-000002") == 404
    assert reply(SAM, "CASE-999999") == 404
    assert [row["kind"] for row in desk.outbox()] == ["ack", "ack"]
    assert reply("billing.agent@northwind.example", "CASE-000001") == 202
    assert reply(MARIA, "CASE-000002") == 202  # the private item's owner


def test_hostile_requests_get_4xx(cli: Cli, dovecot: DovecotServer, smtp: SmtpSink,
                                  app: Flask) -> None:
    # Too long, empty, unknown fields, not JSON, no token: refused, nothing queued.
    desk = Desk(cli, dovecot, smtp)
    desk.receive(mail(1))
    desk.sync()
    client, key = app.test_client(), _key(cli, SAM)
    url = "/api/v1/cases/CASE-000001/reply"
    assert client.post(url, json={"body": "x" * 20_001}, headers=key).status_code == 422
    assert client.post(url, json={"body": "   "}, headers=key).status_code == 400
    assert client.post(url, json={"body": "hi", "to": "x@evil.example"},
                       headers=key).status_code == 422
    assert client.post(url, data=b"\xff\x00", headers={**key, "Content-Type":
                       "application/json"}).status_code in (400, 422)
    assert client.post(url, json={"body": "hi"}).status_code == 401
    assert client.post("/api/v1/cases/" + "C" * 500 + "/reply", json={"body": "hi"},
                       headers=key).status_code == 400
    assert [row["kind"] for row in desk.outbox()] == ["ack"]
