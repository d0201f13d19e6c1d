"""How the pane signs in: nested app authentication (MSAL), else Office SSO, else an API key."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jwt
import pytest
from playwright.sync_api import expect

from crmsync.sync_service.web.app import create_app
from tests.addin.conftest import LiveApp, serve
from tests.addin.pane import open_preview
from tests.api.identity import AUDIENCE, TENANT, IdentityProvider
from tests.conftest import Cli

CLIENT_ID = "6f1a2b3c-0000-4000-8000-000000000001"
SCOPE = f"{AUDIENCE}/access_as_user"


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[IdentityProvider, str]]:
    provider = IdentityProvider()
    url, stop = serve(provider.app())
    yield provider, f"{url}/discovery/v2.0/keys"
    stop()


@pytest.fixture
def naa_live(sample_cli: Cli, idp) -> Iterator[LiveApp]:
    """crmsync configured for NAA (client id, audience, the local key set), demo mode on."""
    app = create_app({
        "TESTING": True, "SECRET_KEY": "test-key", "DEMO": True,
        "DATABASE_URL": sample_cli.env["CRMSYNC_DATABASE_URL"], "ADDIN_CLIENT_ID": CLIENT_ID,
        "OUTLOOK_JWKS_URL": idp[1], "OUTLOOK_AUDIENCES": AUDIENCE, "OUTLOOK_TENANTS": TENANT,
    })
    app.add_url_rule("/test-host", "test_host", _host_page)
    url, stop = serve(app)
    yield LiveApp(url, app, sample_cli)
    stop()
    app.extensions["crmsync"].dispose()


@pytest.fixture
def tab(browser) -> Iterator:
    context = browser.new_context()
    page = context.new_page()
    page.requested = []
    page.on("request", lambda r: page.requested.append(r.url))
    yield page
    context.close()


def test_without_naa_the_pane_signs_in_with_the_api_key(tab, naa_live: LiveApp) -> None:
    # NAA is configured, but this Outlook (the stand-in) does not support it and has no
    # SSO: the pane still paints, signed in with the preview's API key, and never loads MSAL.
    config = tab.request.get(f"{naa_live.url}/addin/taskpane.html").text()
    assert CLIENT_ID in config and "access_as_user" in config
    pane = open_preview(tab, naa_live, "<demo-001@mail.example>")
    expect(pane.locator("body")).to_have_attribute("data-auth", "apikey")
    expect(pane.locator("#who")).to_have_text("Maria Lopez")
    expect(pane.locator("[data-test=card-name]").first).to_have_text("Ana Ruiz")
    assert not [url for url in tab.requested if "msal-browser" in url]


def test_without_any_sign_in_the_pane_asks_for_a_key(tab, naa_live: LiveApp) -> None:
    # No NAA, no SSO, no key: the pane says so and takes a key; with it, it paints.
    key = naa_live.cli("apikey", "create", "maria.lopez@northwind.example").output.strip()
    tab.goto(f"{naa_live.url}/test-host?naa=0")
    pane = tab.frame_locator("#pane")
    expect(pane.locator("#state")).to_have_attribute("data-state", "signed-out")
    expect(pane.locator("#state-text")).to_have_text("You are not signed in to crmsync.")
    pane.locator("#key-input").fill(key)
    pane.locator("#key-save").click()
    pane.locator("body[data-ready='1']").wait_for()
    expect(pane.locator("body")).to_have_attribute("data-auth", "apikey")
    expect(pane.locator("#who")).to_have_text("Maria Lopez")


def test_with_naa_msal_gets_a_token_the_server_accepts(tab, naa_live: LiveApp, idp) -> None:
    # In an Outlook with NAA 1.1, the vendored MSAL asks the host's bridge for a token with
    # the configured scope; the API validates it against the key set and signs Maria in.
    provider, _ = idp
    access = provider.token("maria.lopez@northwind.example")
    identity = jwt.encode({"aud": CLIENT_ID, "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
                           "tid": TENANT, "oid": "00000000-0000-0000-0000-0000000000aa",
                           "preferred_username": "maria.lopez@northwind.example",
                           "name": "Maria Lopez", "iat": 1, "exp": 4102444800},
                          "the pane reads, never checks, this one", algorithm="HS256")
    tab.add_init_script(f"window.__tokens = {json.dumps({'access': access, 'id': identity})};")
    tab.goto(f"{naa_live.url}/test-host?naa=1")
    pane = tab.frame_locator("#pane")
    pane.locator("body[data-ready='1']").wait_for()
    expect(pane.locator("body")).to_have_attribute("data-auth", "naa")
    expect(pane.locator("#who")).to_have_text("Maria Lopez")
    expect(pane.locator("[data-test=card-name]").first).to_have_text("Ana Ruiz")
    assert [url for url in tab.requested if "msal-browser-5.30.0.min.js" in url]
    assert SCOPE in tab.evaluate("window.__scopes")


HOST_PAGE = """<!doctype html><meta charset="utf-8"><title>host</title>
<script>
const params = new URLSearchParams(location.search);
const naa = params.get("naa") === "1";
window.__scopes = [];
window.crmsyncHost = {
  user: { email: "maria.lopez@northwind.example", name: "Maria Lopez" },
  mode: "read", displayLanguage: "en-US",
  requirements: naa ? { Mailbox: 1.8, NestedAppAuth: 1.1 } : { Mailbox: 1.8 },
  item: ITEM,
  naaToken: async (scopes) => {
    window.__scopes.push(...scopes);
    return { access_token: window.__tokens.access, id_token: window.__tokens.id,
      username: "maria.lopez@northwind.example", name: "Maria Lopez",
      tenantId: "TENANT", oid: "00000000-0000-0000-0000-0000000000aa" };
  },
};
</script>
<iframe id="pane" width="320" height="700"
  src="/addin/taskpane.html?office=standin&mode=read"></iframe>
"""

ITEM = {
    "internet_message_id": "<demo-001@mail.example>", "conversation": "<demo-001@mail.example>",
    "subject": "Fleet renewal: questions on the proposal", "occurred_at": "2026-11-02T09:00:00Z",
    "from": {"address": "ana.ruiz@acme.example", "name": "Ana Ruiz"},
    "to": [{"address": "maria.lopez@northwind.example", "name": "Maria Lopez"}], "cc": [],
    "body_excerpt": "",
}


def _host_page() -> str:
    """A page playing an Outlook whose NAA bridge answers with the test's tokens."""
    return HOST_PAGE.replace("ITEM", json.dumps(ITEM)).replace("TENANT", TENANT)
