"""RELIABILITY A4 in a real browser: a page of another site, visited by a signed-in admin,
posts forms and fetches to every state-changing console route; nothing changes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.admin.conftest import LiveConsole, browser_sign_in
from tests.engine.mailboxes import add_mailbox
from tests.servers.dovecot import DovecotServer, new_user

#: every console route that changes state, with a form an attacker would send
ATTACKS = {
    "/admin/mailboxes/1/pause": {}, "/admin/mailboxes/1/remove": {},
    "/admin/mailboxes/1/sync": {}, "/admin/mailboxes/1/resync": {"since": "2020-01-01"},
    "/admin/mailboxes/new": {"name": "evil", "provider": "imap", "host": "imap.example.com",
                             "port": "993", "security": "ssl", "username": "u",
                             "password": "p", "purpose": "personal"},
    "/admin/logout": {},
}


def _attacker_page(console: str) -> bytes:
    """Auto-submitting forms (one iframe each) and credentialed fetches to the console."""
    forms = "".join(
        f'<iframe name="f{n}"></iframe><form target="f{n}" method="post" '
        f'action="{console}{path}">'
        + "".join(f'<input name="{k}" value="{v}">' for k, v in data.items())
        + "</form>" for n, (path, data) in enumerate(ATTACKS.items()))
    fetches = json.dumps([[console + path, data] for path, data in ATTACKS.items()])
    script = (f"const attacks = {fetches};"
              "for (const [url, data] of attacks) fetch(url, {method: 'POST', mode: 'no-cors',"
              " credentials: 'include', body: new URLSearchParams(data)});"
              "for (const f of document.forms) f.submit();"
              "setTimeout(() => document.title = 'done', 1500);")
    return f"<!doctype html><body>{forms}<script>{script}</script></body>".encode()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_another_site_cannot_change_the_console(page, live: LiveConsole,
                                                dovecot: DovecotServer, host: str) -> None:
    # localhost is another site than 127.0.0.1: the SameSite cookie stays home. Another
    # port of 127.0.0.1 is the same site: the cookie goes along, and only the CSRF token
    # and the Origin check stand between the page and the console.
    add_mailbox(live.cli, dovecot, new_user(dovecot), "victim")
    browser_sign_in(page, live)
    assert page.locator("section.mailbox[data-mailbox='victim']").count() == 1
    body = _attacker_page(live.url)

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://{host}:{server.server_port}/")
        page.wait_for_function("document.title === 'done'")
    finally:
        server.shutdown()
        server.server_close()
    rows = [json.loads(line) for line in
            live.cli("mailbox", "list", "--json").output.splitlines()]
    assert [(r["name"], r["status"]) for r in rows] == [("victim", "new")]
    actions = live.cli("audit", "list").output
    assert "mailbox.pause" not in actions and "mailbox.sync_now" not in actions
    page.goto(f"{live.url}/admin/mailboxes")  # still signed in: the logout was refused too
    assert urlsplit(page.url).path == "/admin/mailboxes"
