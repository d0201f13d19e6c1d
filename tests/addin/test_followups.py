"""Follow-ups at the top of the task pane: the rep's own only, "No reply needed" clears one,
and the pane, ``GET /api/v1/followups`` and ``crmsync followups`` give the same list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.addin.conftest import LiveApp
from tests.addin.pane import open_preview
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.followups.helpers import ANA, HANK, LI, MARIA, WEI, mail
from tests.servers.dovecot import DovecotServer

# Ten days ago: overdue now on the default Mon-Fri 09:00-17:00 week, within the 30-day look-back.
SENT = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)


@pytest.fixture
def office(live: LiveApp, dovecot: DovecotServer) -> dict[str, int]:
    """Maria's and Wei's mailboxes: Ana's mail to Maria (hers), Li's to Wei (another
    team's), and Hank's private mail to Maria that only Wei's mailbox holds."""
    cli = live.cli
    cli("privacy", "set", "capture_sensitive", "on")
    boxes = {"maria": new_user(dovecot), "wei": new_user(dovecot)}
    dovecot.append(boxes["maria"], "INBOX", mail("own", ANA, MARIA, SENT, "Quote for 40 vans"))
    dovecot.append(boxes["wei"], "INBOX", mail("other", LI, WEI, SENT, "报价"))
    dovecot.append(boxes["wei"], "INBOX", mail("private", HANK, MARIA, SENT, "Private pilot terms",
                                                Sensitivity="Private"))
    for name, owner in (("maria", MARIA), ("wei", WEI)):
        add_mailbox(cli, dovecot, boxes[name], name, "--owner", owner[1])
        sync(cli, name)
    ids = {}
    for activity in cli.export_activities():
        key = (activity["internet_message_id"] or "").strip("<>").split("@")[0]
        if key in ("own", "other", "private"):
            ids[key] = int(activity["id"])
    assert set(ids) == {"own", "other", "private"}
    return ids


def _key(live: LiveApp, who: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + live.cli("apikey", "create", who).output.strip()}


def _cli_list(live: LiveApp, rep: str) -> list[dict]:
    out = live.cli("followups", "--rep", rep).output
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_pane_api_and_cli_agree_and_no_reply_needed_clears(page, live: LiveApp,
                                                           office: dict[str, int]) -> None:
    # Maria sees her own follow-up only (not Wei's, not the private one in Wei's
    # mailbox); the pane, the API and the CLI list the same; the button clears it.
    client = live.app.test_client()
    api = client.get("/api/v1/followups", headers=_key(live, MARIA[1])).get_json()["followups"]
    assert api == _cli_list(live, MARIA[1])
    assert [f["id"] for f in api] == [office["own"]]
    pane = open_preview(page, live, "<own@test.example>")
    shown = pane.locator("[data-test=followups] [data-test=followup]")
    expect(shown).to_have_count(1)
    assert [int(x) for x in shown.evaluate_all("els => els.map(e => e.dataset.id)")] == [
        f["id"] for f in api]
    expect(shown.first.locator("[data-test=followup-subject]")).to_have_text("Quote for 40 vans")
    expect(shown.first.locator("[data-test=followup-contact]")).to_have_text("Ana Ruiz")
    expect(shown.first).to_contain_text("Acme Corporation")
    # the section is the pane's first
    expect(pane.locator("#pane > section").first).to_have_attribute("data-test", "followups")
    shown.first.locator("[data-test=no-reply-needed]").click()
    expect(pane.locator("[data-test=followups]")).to_have_count(0)
    assert _cli_list(live, MARIA[1]) == []
    again = client.get("/api/v1/followups", headers=_key(live, MARIA[1])).get_json()
    assert again == {"followups": []}
    # reloaded, the pane shows no follow-up section
    pane = open_preview(page, live, "<own@test.example>")
    expect(pane.locator("[data-test=followups]")).to_have_count(0)


def test_a_rep_cannot_see_or_dismiss_another_reps_or_a_private_follow_up(
    live: LiveApp, office: dict[str, int]
) -> None:
    # Wei's follow-up and the private mail answer 404 to Maria and stay as they were.
    client = live.app.test_client()
    maria, wei = _key(live, MARIA[1]), _key(live, WEI[1])
    for key in ("other", "private"):
        answer = client.post(f"/api/v1/followups/{office[key]}/dismiss", headers=maria)
        assert answer.status_code == 404, key
    for bad in ("99999999999999999999", "0", "abc"):
        assert client.post(f"/api/v1/followups/{bad}/dismiss", headers=maria).status_code == 404
    assert client.get("/api/v1/followups?as_of=yesterday", headers=maria).status_code == 422
    assert client.get("/api/v1/followups").status_code == 401
    theirs = client.get("/api/v1/followups", headers=wei).get_json()["followups"]
    assert [f["id"] for f in theirs] == [office["other"]]
    assert theirs == _cli_list(live, WEI[1])
    # Wei may dismiss his own; Maria's stays hers
    assert client.post(f"/api/v1/followups/{office['own']}/dismiss",
                       headers=wei).status_code == 404
    assert client.post(f"/api/v1/followups/{office['other']}/dismiss",
                       headers=wei).get_json() == {"dismissed": office["other"]}
    assert [f["id"] for f in _cli_list(live, MARIA[1])] == [office["own"]]
    assert _cli_list(live, WEI[1]) == []


def test_the_pane_in_chinese(page, live: LiveApp, office: dict[str, int]) -> None:
    # The section and its button speak the mailbox's language.
    pane = open_preview(page, live, "<own@test.example>", lang="zh-CN")
    expect(pane.locator("[data-test=followups] h2")).to_have_text("等待您回复（1）")
    expect(pane.locator("[data-test=no-reply-needed]")).to_have_text("无需回复")
