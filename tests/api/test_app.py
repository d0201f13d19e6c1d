"""`crmsync serve`'s app: health check, the sender lookup API, and the demo console."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from crmsync.sync_service.web.app import create_app
from tests.admin.console import PASSWORD, sign_in
from tests.conftest import Cli

_apps: list = []


@pytest.fixture(autouse=True)
def _dispose_apps() -> Iterator[None]:
    yield
    while _apps:
        _apps.pop().extensions["crmsync"].dispose()


def _client(cli: Cli, **config: object) -> FlaskClient:
    app = create_app({"TESTING": True, "SECRET_KEY": "test-key",
                      "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"], **config})
    _apps.append(app)
    return app.test_client()


def test_healthz(loaded: Cli) -> None:
    # A load balancer's probe gets a JSON "ok".
    response = _client(loaded).get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_lookup_needs_a_valid_key(loaded: Cli) -> None:
    # Without a key, or with a forged one, nothing about a customer is revealed.
    client = _client(loaded)
    assert client.get("/api/v1/lookup?address=ana.ruiz@acme.example").status_code == 401
    forged = {"Authorization": "Bearer crm_forged"}
    response = client.get("/api/v1/lookup?address=ana.ruiz@acme.example", headers=forged)
    assert response.status_code == 401 and "Ruiz" not in response.get_data(as_text=True)


def test_sender_lookup_shows_contact_account_deals_and_history(loaded: Cli) -> None:
    # A rep opening Ana's mail sees who she is, her company, its open deals and recent mail.
    key = loaded("apikey", "create", "maria.lopez@northwind.example").output.strip()
    client = _client(loaded)
    response = client.get(
        "/api/v1/lookup?address=Ana.Ruiz@ACME.example", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200
    body = response.json
    assert body["contact"]["name"] == "Ana Ruiz"
    assert body["contact"]["title"] == "Head of Procurement"
    assert body["account"] == {"external_id": "acc-acme", "name": "Acme Corporation"}
    assert [o["external_id"] for o in body["opportunities"]] == ["opp-1"]  # opp-4 is closed
    subjects = [a["subject"] for a in body["recent_activities"]]
    assert "Fleet renewal: questions on the proposal" in subjects
    dates = [a["occurred_at"] for a in body["recent_activities"]]
    assert dates == sorted(dates, reverse=True)

    # An unknown person at a customer domain still shows the account.
    other = client.get(
        "/api/v1/lookup?address=new.person@acme-eu.example",
        headers={"Authorization": f"Bearer {key}"},
    ).json
    assert other["contact"] is None and other["account"]["external_id"] == "acc-acme"


def test_console_shows_links_and_escapes_mail_text(loaded: Cli, tmp_path) -> None:
    # The console lists captured mail with reasons; a script in a subject is text.
    hostile = tmp_path / "hostile.eml"
    hostile.write_bytes(
        b"From: Ana Ruiz <ana.ruiz@acme.example>\r\nTo: maria.lopez@northwind.example\r\n"
        b"Subject: <script>alert(1)</script>\r\nMessage-ID: <x1@acme.example>\r\n"
        b"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\nhi\r\n"
    )
    loaded("mail", "import", str(hostile))
    client = _client(loaded)
    assert client.get("/admin/").status_code == 302  # to the sign-in page
    loaded("user", "add", "olivia.admin@northwind.example", "--password-env", "PASSWORD",
           env={"PASSWORD": PASSWORD})
    assert sign_in(client, "olivia.admin@northwind.example") == 302
    page = client.get("/admin/").get_data(as_text=True)
    assert "sender is contact Ana Ruiz" in page or "Ana Ruiz" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    response = client.get("/admin/")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
