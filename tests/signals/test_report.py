"""``crmsync report accounts`` and the pane's account card: the same signals, from what
each person may see."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from crmsync.sync_service.web.app import create_app
from tests.conftest import Cli
from tests.followups.helpers import MARIA, WEI
from tests.servers.dovecot import DovecotServer
from tests.signals import scenario

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def report(cli: Cli, *extra: str) -> dict[str, dict]:
    out = cli("report", "accounts", *extra).output
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {row["account"]["external_id"]: row for row in rows}


def test_report_counts_only_what_each_person_may_see(cli: Cli, dovecot: DovecotServer,
                                                    tmp_path: Path) -> None:
    # The organization sees Wei's fresh thread; Maria does not, and for her Acme is
    # going quiet; an unanswered newsletter is no exchange (both backends).
    scenario.build(cli, dovecot, tmp_path)
    everyone, maria, wei = report(cli), report(cli, "--as", MARIA[1]), report(cli, "--as", WEI[1])
    assert (everyone["acc-acme"]["days_since"], everyone["acc-acme"]["going_quiet"]) == (2, False)
    assert everyone["acc-acme"]["mails_30d"] == 4  # Wei's two, Maria's last two
    assert everyone["acc-acme"]["owner"] == MARIA[1]
    acme = maria["acc-acme"]
    # ten weekly threads and the meeting's day
    assert (acme["days_since"], acme["going_quiet"], acme["active_days_180d"]) == (25, True, 11)
    assert (acme["mails_30d"], acme["mails_90d"]) == (2, 20)
    assert (acme["meetings_30d"], acme["meetings_90d"]) == (0, 1)
    assert acme["median_gap_days"] == 7.0
    assert (wei["acc-acme"]["mails_90d"], wei["acc-acme"]["going_quiet"]) == (2, False)
    assert maria["acc-globex"]["mails_90d"] == 0 and maria["acc-globex"]["last_exchange"] is None
    assert set(everyone) == {"acc-acme", "acc-globex", "acc-initech", "acc-yunfan"}


@SQLITE
def test_as_of_freezes_the_clock(cli: Cli, dovecot: DovecotServer,
                                                    tmp_path: Path) -> None:
    # A week before Maria's last thread, Acme was in the middle of its weekly rhythm.
    now = scenario.build(cli, dovecot, tmp_path)
    earlier = (now - timedelta(days=30)).isoformat()
    acme = report(cli, "--as-of", earlier, "--as", MARIA[1])["acc-acme"]
    assert acme["going_quiet"] is False and acme["days_since"] in (2, 3)
    assert "not an ISO-8601 instant" in cli("report", "accounts", "--as-of", "x", ok=False).output
    assert "no CRM user" in cli("report", "accounts", "--as", "x@y.example", ok=False).output


@SQLITE
def test_the_pane_card_shows_the_same_signals(cli: Cli, dovecot: DovecotServer,
                                                    tmp_path: Path) -> None:
    # Maria's card for Ana's mail carries Acme's signals as her report has them.
    scenario.build(cli, dovecot, tmp_path)
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"]})
    try:
        key = cli("apikey", "create", MARIA[1]).output.strip()
        answer = app.test_client().post("/api/v1/context", headers={
            "Authorization": f"Bearer {key}"}, json={
            "internet_message_id": "<a0@test.example>", "subject": "Week 0",
            "from": {"address": "ana.ruiz@acme.example", "name": "Ana Ruiz"}})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        [card] = answer.get_json()["participants"]
    finally:
        app.extensions["crmsync"].dispose()
    mine = report(cli, "--as", MARIA[1])["acc-acme"]
    assert card["signals"] == {k: v for k, v in mine.items() if k not in ("account", "owner")}
    assert card["signals"]["going_quiet"] is True
