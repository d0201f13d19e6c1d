"""API keys and feed URLs can be listed, expire and be revoked; preview keys die with demo mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from crmsync.crm.feeds import FeedToken
from crmsync.crm.models import ApiKey
from crmsync.sync_service.web.api_keys import preview_sign_in
from crmsync.sync_service.web.app import create_app
from tests.conftest import Cli, load_sample_crm

MARIA = "maria.lopez@northwind.example"


def _client(cli: Cli, **config: object):
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                      **config})
    return app, app.test_client()


def _lookup(client, key: str) -> int:
    return client.get("/api/v1/lookup?address=ana.ruiz@acme.example",
                      headers={"Authorization": f"Bearer {key}"}).status_code


def test_a_key_is_listed_without_its_secret_and_dies_when_revoked(cli: Cli) -> None:
    load_sample_crm(cli)
    key = cli("apikey", "create", MARIA, "--label", "laptop script").output.strip()
    listed = cli("apikey", "list").output
    assert "laptop script" in listed and MARIA in listed and "live" in listed
    assert key not in listed and key[4:12] not in listed
    app, client = _client(cli)
    assert _lookup(client, key) == 200
    key_id = listed.split("\t")[0]
    cli("apikey", "revoke", key_id)
    assert _lookup(client, key) == 401
    assert "revoked" in cli("apikey", "list", "--user", MARIA).output
    assert cli("apikey", "revoke", "999", ok=False).exit_code != 0
    app.extensions["crmsync"].dispose()


def test_an_expired_key_is_refused(cli: Cli) -> None:
    load_sample_crm(cli)
    key = cli("apikey", "create", MARIA, "--days", "30").output.strip()
    app, client = _client(cli)
    assert _lookup(client, key) == 200
    with cli.session() as session:
        session.execute(update(ApiKey).values(expires_at=datetime.now(UTC) - timedelta(1)))
        session.commit()
    assert _lookup(client, key) == 401
    app.extensions["crmsync"].dispose()


def test_a_preview_key_works_only_in_demo_mode(cli: Cli) -> None:
    load_sample_crm(cli)
    demo, demo_client = _client(cli, DEMO=True)
    key, email, _ = preview_sign_in(demo.extensions["crmsync"], None)
    assert _lookup(demo_client, key) == 200
    served, client = _client(cli)  # the same database served with demo mode off
    assert _lookup(client, key) == 401
    for app in (demo, served):
        app.extensions["crmsync"].dispose()


def test_a_new_feed_url_replaces_the_old_and_urls_expire(cli: Cli) -> None:
    load_sample_crm(cli)
    app, client = _client(cli)
    old = cli("calendar", "feed-token", MARIA).output.strip()
    assert client.get(old).status_code == 200
    new = cli("calendar", "feed-token", MARIA, "--days", "7").output.strip()
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200
    with cli.session() as session:
        session.execute(update(FeedToken).values(expires_at=datetime.now(UTC) - timedelta(1)))
        session.commit()
    assert client.get(new).status_code == 404
    newest = cli("calendar", "feed-token", MARIA).output.strip()
    listed = cli("calendar", "feed-tokens", "--user", MARIA).output.splitlines()
    assert [line.split("\t")[-1] for line in listed] == ["revoked", "revoked", "live"]
    assert newest.split("/")[-1][:-4] not in "\n".join(listed)  # never the secret
    assert "revoked 1" in cli("calendar", "feed-token", MARIA, "--revoke").output
    assert client.get(newest).status_code == 404
    app.extensions["crmsync"].dispose()
