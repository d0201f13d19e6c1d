"""Every admin action leaves one append-only audit row, with no secret and no address (A8)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from crmsync.sync_service.web.app import create_app
from tests.conftest import Cli, load_sample_crm

CANARY_ADDRESS = "canary.person@acme.example"
CANARY_PASSWORD = "canary-Pw-audit-5e1f"
ADMIN = "olivia.admin@northwind.example"
MARIA = "maria.lopez@northwind.example"


def _events(cli: Cli) -> list[dict]:
    return [json.loads(line) for line in cli("audit", "list", "--limit", "500").output.splitlines()]


def test_each_admin_action_writes_one_row_without_secrets(cli: Cli) -> None:
    load_sample_crm(cli)
    key = cli("apikey", "create", MARIA, "--label", "script").output.strip()
    key_id = cli("apikey", "list").output.split("\t")[0]
    cli("apikey", "revoke", key_id)
    cli("mailbox", "add", "imap", "box", "--host", "127.0.0.1", "--port", "9",
        "--security", "none", "--username", "box", "--password-env", "PW",
        "--owner", MARIA, env={"PW": CANARY_PASSWORD})
    cli("org", "set-sharing", "everyone")
    cli("rules", "add", "block-domain", "spam.example")
    cli("rules", "remove", "block-domain", "spam.example")
    cli("privacy", "set", "capture_sensitive", "on")
    cli("privacy", "opt-out", "someone@acme.example")
    cli("privacy", "erase", CANARY_ADDRESS)
    cli("calendar", "feed-token", MARIA)
    cli("secrets", "rotate")
    events = _events(cli)
    actions = [e["action"] for e in reversed(events)]
    assert actions[-11:] == [
        "apikey.create", "apikey.revoke", "mailbox.add", "org.set-sharing", "rules.add",
        "rules.remove", "privacy.set", "privacy.opt-out", "privacy.erase",
        "calendar.feed-token", "secrets.rotate"]
    assert all(e["actor"].startswith("cli:") and e["source"] == "cli" and e["at"]
               for e in events)
    assert next(e for e in events if e["action"] == "apikey.revoke")["target"] == key_id
    assert next(e for e in events if e["action"] == "privacy.erase")["target"].startswith(
        "sha256:")
    dump = json.dumps(events)
    for secret in (CANARY_ADDRESS, CANARY_PASSWORD, key, key[4:20], "someone@acme.example"):
        assert secret not in dump


def test_a_failed_command_writes_no_row(cli: Cli) -> None:
    load_sample_crm(cli)
    before = len(_events(cli))
    cli("apikey", "revoke", "424242", ok=False)
    assert len(_events(cli)) == before


def test_audit_rows_cannot_be_changed_or_deleted(cli: Cli, database_url: str) -> None:
    load_sample_crm(cli)
    cli("org", "set-sharing", "private")
    engine = create_engine(database_url)
    try:
        for statement in ("UPDATE audit_events SET actor = 'someone else'",
                          "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
    finally:
        engine.dispose()
    assert [e["actor"] for e in _events(cli)][0].startswith("cli:")


def test_only_admins_read_the_audit_log_over_the_api(cli: Cli) -> None:
    load_sample_crm(cli)
    cli("org", "set-sharing", "team")
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"]})
    client = app.test_client()
    try:
        def get(who: str):
            key = cli("apikey", "create", who).output.strip()
            return client.get("/api/v1/audit", headers={"Authorization": f"Bearer {key}"})

        answer = get(ADMIN)
        assert answer.status_code == 200
        assert "org.set-sharing" in [e["action"] for e in answer.json["events"]]
        assert get(MARIA).status_code == 404
    finally:
        app.extensions["crmsync"].dispose()
