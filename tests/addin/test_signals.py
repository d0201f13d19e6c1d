"""The account card in the pane shows the account's relationship signals, as the rep's
``crmsync report accounts --as`` has them."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import expect

from tests.addin.conftest import LiveApp
from tests.addin.pane import open_preview
from tests.followups.helpers import MARIA
from tests.servers.dovecot import DovecotServer
from tests.signals import scenario


def test_account_card_shows_recency_frequency_and_going_quiet(
    page, live: LiveApp, dovecot: DovecotServer, tmp_path: Path
) -> None:
    # Maria opens Ana's mail: Acme's card says when they last talked, how often, and
    # that the account is going quiet; in Chinese too.
    scenario.build(live.cli, dovecot, tmp_path)
    out = live.cli("report", "accounts", "--as", MARIA[1]).output
    acme = next(row for row in map(json.loads, out.splitlines())
                if row["account"]["external_id"] == "acc-acme")
    assert acme["going_quiet"] is True
    pane = open_preview(page, live, "<a0@test.example>")
    card = pane.locator("[data-test=card]").first
    expect(card.locator("[data-test=account]")).to_have_text("Acme Corporation")
    expect(card.locator("[data-test=recency]")).to_have_text(
        f"Last exchange {acme['days_since']} days ago")
    expect(card.locator("[data-test=frequency]")).to_have_text(
        f"{acme['mails_90d']} mails, {acme['meetings_90d']} meetings in 90 days")
    expect(card.locator("[data-test=going-quiet]")).to_have_text("Going quiet")
    pane = open_preview(page, live, "<a0@test.example>", lang="zh-CN")
    card = pane.locator("[data-test=card]").first
    expect(card.locator("[data-test=going-quiet]")).to_have_text("联系渐少")
    expect(card.locator("[data-test=recency]")).to_have_text(f"上次往来：{acme['days_since']} 天前")
