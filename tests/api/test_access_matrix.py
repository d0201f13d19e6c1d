"""RELIABILITY A2, generated from the app: every route × every role × every kind of item.

Five mails, each from another mailbox: Maria's own, her teammate Lena's, Zhang Wei's
(another team), Maria's private note, and one of the support mailbox. Six people ask
every route about each. :data:`SEES` is the oracle, written out by hand from the rule
("their own mailboxes; their team's by default; support mail for agents, admins and
managers; private items only for their owner"), not computed by the code under test.

A route reveals an item when its answer holds the item's canary subject or body word;
it must do so exactly when the person may see the item. A write route must leave an
item the person may not see as it was (its links), and answer 404 where it names the
item directly. The route list comes from Flask's ``url_map``: a new route that is not
in :data:`PROBES` (or :data:`NO_ITEM_DATA`, with the reason) fails the suite.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from crmsync.sync_service.web.app import create_app
from tests.admin.console import PASSWORD, sign_in
from tests.conftest import SAMPLES, Cli
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.servers.dovecot import DovecotServer

MARIA = "maria.lopez@northwind.example"  # rep, Sales EMEA
LENA = "lena.berg@northwind.example"  # rep, Sales EMEA (Maria's teammate)
WEI = "wei.zhang@northwind.example"  # rep, Sales APAC
SAM = "sam.taylor@northwind.example"  # agent, Support
OLIVIA = "olivia.admin@northwind.example"  # admin, no team
MIKE = "mike.chen@northwind.example"  # manager, Sales APAC
PEOPLE = (MARIA, LENA, WEI, SAM, OLIVIA, MIKE)


@dataclass(frozen=True)
class Item:
    key: str
    mailbox: str
    owner: str
    sender: str
    headers: tuple[str, ...] = ()

    @property
    def message_id(self) -> str:
        return f"<{self.key}@acme.example>"

    @property
    def canary(self) -> str:
        """Subject and body word: nowhere else in the CRM."""
        return f"canary{self.key.replace('-', '')}"


ITEMS = (
    Item("own", "maria", MARIA, "ana.ruiz@acme.example"),
    Item("team", "lena", LENA, "ana.ruiz@acme.example"),
    Item("other", "wei", WEI, "ana.ruiz@acme.example"),
    Item("private", "maria", MARIA, "ana.ruiz@acme.example", ("Sensitivity: Private",)),
    Item("support", "support", SAM, "ana.ruiz@acme.example"),
)
#: who sees which item, with the organization's default sharing (team)
SEES = {
    MARIA: {"own", "team", "private"},
    LENA: {"own", "team"},
    WEI: {"other"},
    SAM: {"support"},
    OLIVIA: {"support"},
    MIKE: {"other", "support"},
}
ACME = {"type": "account", "external_id": "acc-acme"}
INITECH = {"type": "account", "external_id": "acc-initech"}


@dataclass
class Office:
    cli: Cli
    client: FlaskClient
    keys: dict[str, dict[str, str]]
    #: each person's browser at the admin console, signed in when their role may be
    consoles: dict[str, FlaskClient]

    def links(self, item: Item) -> str:
        for activity in self.cli.export_activities():
            if activity["internet_message_id"] == item.message_id:
                return json.dumps(sorted(json.dumps(x, sort_keys=True)
                                         for x in activity["links"]))
        raise AssertionError(f"{item.key} was not stored")


def _mail(item: Item) -> bytes:
    return "\r\n".join([
        f"Message-ID: {item.message_id}", f"From: {item.sender}", f"To: {item.owner}",
        f"Subject: {item.canary}", "Date: Tue, 03 Nov 2026 10:00:00 +0000", *item.headers,
        "Content-Type: text/plain; charset=utf-8", "", f"body {item.canary}", "",
    ]).encode()


@pytest.fixture
def office(cli: Cli, dovecot: DovecotServer, tmp_path: Path) -> Iterator[Office]:
    users = tmp_path / "users.csv"
    users.write_text((SAMPLES / "users.csv").read_text()
                     + f"{LENA},Lena Berg,rep,Sales EMEA\n{MIKE},Mike Chen,manager,Sales APAC\n")
    cli("org", "set-domains", "northwind.example")
    cli("crm", "import", "--users", str(users), "--accounts", str(SAMPLES / "accounts.csv"),
        "--contacts", str(SAMPLES / "contacts.csv"),
        "--opportunities", str(SAMPLES / "opportunities.csv"))
    cli("privacy", "set", "capture_sensitive", "on")
    owners = {"maria": MARIA, "lena": LENA, "wei": WEI, "support": SAM}
    logins = {name: new_user(dovecot) for name in owners}
    for item in ITEMS:
        dovecot.append(logins[item.mailbox], "INBOX", _mail(item))
    for name, owner in owners.items():
        purpose = ("--purpose", "support") if name == "support" else ()
        add_mailbox(cli, dovecot, logins[name], name, "--owner", owner, *purpose)
        sync(cli, name)
    # hundreds of probes a minute: a 429 would hide what a route shows, so no limit bites
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                      "SECRET_KEY": cli.env["CRMSYNC_SECRET_KEY"],
                      "RATE_LIMIT_PER_USER": "100000/minute",
                      "RATE_LIMIT_PER_IP": "100000/minute"})
    keys = {who: {"Authorization": "Bearer " + cli("apikey", "create", who).output.strip()}
            for who in PEOPLE}
    consoles = {}
    for who in PEOPLE:
        cli("user", "add", who, "--password-env", "CONSOLE_PASSWORD",
            env={"CONSOLE_PASSWORD": PASSWORD})
        consoles[who] = app.test_client()
        sign_in(consoles[who], who)
    yield Office(cli, app.test_client(), keys, consoles)
    app.extensions["crmsync"].dispose()


# -- probes: one per route; each returns (status, body text) for one person and item -----

Probe = Callable[[Office, str, Item], tuple[int, str]]


def _get(office: Office, who: str, url: str) -> tuple[int, str]:
    answer = office.client.get(url, headers=office.keys[who])
    return answer.status_code, answer.get_data(as_text=True)


def _console(office: Office, who: str, url: str) -> tuple[int, str]:
    answer = office.consoles[who].get(url)
    return answer.status_code, answer.get_data(as_text=True)


def _post(office: Office, who: str, url: str, body: dict[str, Any]) -> tuple[int, str]:
    answer = office.client.post(url, json=body, headers=office.keys[who])
    return answer.status_code, answer.get_data(as_text=True)


def _send(office: Office, who: str, method: str, url: str,
          body: dict[str, Any] | None) -> tuple[int, str]:
    answer = getattr(office.client, method)(url, json=body, headers=office.keys[who])
    return answer.status_code, answer.get_data(as_text=True)


def _template(office: Office, item: Item) -> None:
    """A reply template whose keyword is the item's canary: matching reads the body."""
    from datetime import UTC, datetime

    from crmsync.crm.templates import ReplyTemplate

    with office.cli.session() as session:
        if session.query(ReplyTemplate).filter_by(name=item.key).first() is None:
            session.add(ReplyTemplate(name=item.key, body="Hello", keywords=item.canary,
                                      created_at=datetime.now(UTC)))
            session.commit()


def _templates_probe(office: Office, who: str, item: Item) -> tuple[int, str]:
    _template(office, item)
    status, text = _get(office, who,
                        f"/api/v1/templates?internet_message_id={item.message_id}&subject=x")
    matched = [t["name"] for t in json.loads(text)["templates"] if t["matched"]]
    return status, item.canary if item.key in matched else ""


def _quarantine_probe(office: Office, who: str, item: Item) -> tuple[int, str]:
    """The item's mail quarantined by its mailbox: the console lists it to those who
    may see that mailbox's mail."""
    from datetime import UTC, datetime

    from crmsync.crm.models import Mailbox, QuarantinedItem

    with office.cli.session() as session:
        mailbox = session.query(Mailbox).filter_by(name=item.mailbox).one()
        if session.query(QuarantinedItem).filter_by(item_id=f"probe-{item.key}").first() is None:
            session.add(QuarantinedItem(
                mailbox_id=mailbox.id, origin=f"mailbox:{mailbox.id}", folder="INBOX",
                item_id=f"probe-{item.key}", reason="probe", raw=_mail(item),
                created_at=datetime.now(UTC)))
            session.commit()
    return _console(office, who, "/admin/quarantine")


def _activity_id(office: Office, item: Item) -> int:
    for activity in office.cli.export_activities():
        if activity["internet_message_id"] == item.message_id:
            return int(activity["id"])
    raise AssertionError(f"{item.key} was not stored")


PROBES: dict[str, Probe] = {
    # Before api.list_templates: that probe makes reply templates whose keywords are the
    # canaries, and this page lists templates (admin-written settings, not item data).
    "admin.settings": lambda o, w, i: _console(o, w, "/admin/settings"),
    "api.recent_messages": lambda o, w, i: _get(
        o, w, f"/api/v1/messages?limit=200&internet_message_id={i.message_id}"),
    "api.timeline": lambda o, w, i: _get(o, w, "/api/v1/timeline/account/acc-acme?limit=50"),
    "api.lookup": lambda o, w, i: _get(o, w, f"/api/v1/lookup?address={i.sender}"),
    "api.item_context": lambda o, w, i: _post(o, w, "/api/v1/context", {
        "internet_message_id": i.message_id, "subject": "hello",
        "from": {"address": i.sender, "name": ""}}),
    "api.list_templates": _templates_probe,
    "api.search": lambda o, w, i: _get(o, w, f"/api/v1/search?q={i.canary}"),
    "api.track_item": lambda o, w, i: _post(o, w, "/api/v1/track", {
        "internet_message_id": i.message_id, "target": INITECH}),
    "api.untrack_item": lambda o, w, i: _post(o, w, "/api/v1/untrack", {
        "internet_message_id": i.message_id, "target": ACME}),
    "api.create_case": lambda o, w, i: _post(o, w, "/api/v1/cases", {
        "subject": "probe", "internet_message_id": i.message_id}),
    # the support item's case (the desk has no SMTP: those who may answer get 409)
    "api.reply_to_case": lambda o, w, i: _post(o, w, "/api/v1/cases/CASE-000001/reply", {
        "body": "probe reply"}),
    "api.track_on_send": lambda o, w, i: _post(o, w, "/api/v1/track-on-send", {
        "internet_message_id": i.message_id, "target": INITECH}),
    "api.link_meeting": lambda o, w, i: _post(o, w, "/api/v1/meetings/link", {
        "ical_uid": i.message_id, "target": INITECH}),
    "api.create_contact": lambda o, w, i: _post(o, w, "/api/v1/contacts", {
        "email": f"{i.key}@newco.example", "first_name": "Probe"}),
    # a week after the items arrived: Ana's mails to Maria are her follow-ups by then
    "api.list_followups": lambda o, w, i: _get(
        o, w, "/api/v1/followups?as_of=2026-11-10T00:00:00Z"),
    "api.dismiss_followup": lambda o, w, i: _post(
        o, w, f"/api/v1/followups/{_activity_id(o, i)}/dismiss", {}),
    # meetings booked in the CRM: naming an item's mail as a meeting reveals and changes
    # nothing, and a booking linked to the item's account shows none of its mail
    "api.book_meeting": lambda o, w, i: _post(o, w, "/api/v1/meetings", {
        "subject": "probe booking", "start": "2026-11-20T09:00:00Z",
        "end": "2026-11-20T09:30:00Z", "links": [ACME]}),
    "api.record_meetings": lambda o, w, i: _get(
        o, w, "/api/v1/meetings?type=account&external_id=acc-acme"),
    "api.get_meeting": lambda o, w, i: _get(o, w, f"/api/v1/meetings/{_activity_id(o, i)}"),
    "api.change_meeting": lambda o, w, i: _send(
        o, w, "patch", f"/api/v1/meetings/{_activity_id(o, i)}", {"subject": "probe"}),
    "api.cancel_meeting": lambda o, w, i: _send(
        o, w, "delete", f"/api/v1/meetings/{_activity_id(o, i)}", None),
    "feeds.feed_by_token": lambda o, w, i: _get(o, w, "/feeds/me.ics"),
    "admin.activities": lambda o, w, i: _console(o, w, "/admin/"),
    "admin.mailboxes": lambda o, w, i: _console(o, w, "/admin/mailboxes"),
    "admin.mailbox_detail": lambda o, w, i: _console(o, w, "/admin/mailboxes/1"),
    "admin.add_form": lambda o, w, i: _console(o, w, "/admin/mailboxes/new"),
    "admin.users": lambda o, w, i: _console(o, w, "/admin/users"),
    "admin.keys": lambda o, w, i: _console(o, w, "/admin/keys"),
    "admin.audit": lambda o, w, i: _console(o, w, "/admin/audit"),
    "admin.quarantine": _quarantine_probe,
}
#: console routes that change a mailbox (no item data): only an admin, with the form's
#: CSRF token, changes anything (tests/admin/test_console_access.py drives each)
CONSOLE_CHANGES = {
    "admin.sign_in": "signs in (tests/admin/test_sign_in.py)",
    "admin.sign_out": "ends the session",
    "admin.pause": "pauses a mailbox", "admin.resume": "resumes a mailbox",
    "admin.remove": "removes a mailbox", "admin.sync_now": "syncs a mailbox now",
    "admin.resync": "resyncs a mailbox from a date",
    "admin.test_connection": "connects with typed settings, saves nothing",
    "admin.add": "adds a mailbox",
    "admin.user_save": "adds or updates a user (tests/admin/test_people.py)",
    "admin.user_password": "sets a user's console password",
    "admin.user_unlock": "lifts a user's sign-in lockout",
    "admin.key_issue": "issues an API key for a user",
    "admin.key_revoke": "revokes an API key",
    "admin.entra_return": "signs in with Microsoft (tests/admin/test_console_entra.py)",
    "admin.microsoft365_consent": "sends the browser to a tenant's admin consent",
    "admin.microsoft365_reauth": "sends the browser to sign a delegated mailbox in again",
    "admin.microsoft365_reauth_return": "stores a delegated mailbox's new sign-in, sealed",
    "admin.quarantine_retry": "retries a quarantined item the admin may see, else 404 "
                              "(tests/admin/test_quarantine.py)",
    "admin.quarantine_discard": "discards a quarantined item the admin may see, else 404",
    "admin.rule_dry_run": "lists what a privacy rule would purge: the count, and subjects "
                          "only of activities the admin may see (tests/admin/test_settings.py)",
    "admin.rule_add": "adds a privacy rule and purges what it forbids",
    "admin.rule_remove": "removes a privacy rule",
    "admin.set_domains": "sets the internal domains",
    "admin.change_sharing": "sets the organization's sharing",
    "admin.support_settings": "sets SLA and business hours of support mailboxes",
    "admin.case_rule_save": "adds or replaces a keyword rule",
    "admin.case_rule_delete": "deletes a keyword rule",
    "admin.template_save": "adds or replaces a reply template",
    "admin.template_delete": "deletes a reply template",
}
#: routes that hold no item data, and why
NO_ITEM_DATA = {
    "healthz": "liveness only",
    "index": "redirects to the admin console",
    "api-docs.openapi_json": "the API's description",
    "addin.static": "the task pane's files",
    "addin.taskpane": "the task pane's page (data comes through the API)",
    "addin.preview": "the demo's page hosting the pane (demo mode only)",
    "admin.static": "the console's style sheet",
    "webhooks.graph_notifications": "takes notifications in, gives nothing out",
    "api.audit_log": "admins' actions, no item data; admins only (tests/crm/test_audit.py)",
    "admin.entra_start": "redirects to Microsoft's sign-in (tests/admin/test_console_entra.py)",
    "admin.microsoft365_consent_return": "says whether a tenant granted admin consent",
}
#: write routes that name the item directly: a person who may not see it gets 404
NAMES_ITEM = {"api.untrack_item", "api.dismiss_followup", "api.get_meeting",
              "api.change_meeting", "api.cancel_meeting"}
#: routes that list case records: a support mail opens a case, and the case (its subject
#: is the mail's) is a record every rep may see; the mail itself stays the desk's
CASE_RECORDS = {"api.lookup", "api.item_context", "api.search"}


def test_every_route_of_the_app_is_in_the_matrix(sqlite_url: str) -> None:
    app = create_app({"TESTING": True, "DATABASE_URL": sqlite_url})
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints == set(PROBES) | set(NO_ITEM_DATA) | set(CONSOLE_CHANGES)
    assert set(PROBES).isdisjoint(NO_ITEM_DATA)
    assert set(CONSOLE_CHANGES).isdisjoint(set(PROBES) | set(NO_ITEM_DATA))


def test_no_route_shows_or_changes_an_item_to_someone_who_may_not_see_it(office: Office):
    wrong = []
    for endpoint, probe in PROBES.items():
        for who in PEOPLE:
            for item in ITEMS:
                before = office.links(item)
                status, text = probe(office, who, item)
                may_see = item.key in SEES[who]
                if status >= 500:
                    wrong.append(f"{endpoint} answered {status} to {who} about {item.key}")
                shown_as_case = item.key == "support" and endpoint in CASE_RECORDS
                if not may_see and item.canary in text and not shown_as_case:
                    wrong.append(f"{endpoint} showed {item.key} to {who}")
                if not may_see and office.links(item) != before:
                    wrong.append(f"{endpoint} changed {item.key}'s links for {who}")
                if not may_see and endpoint in NAMES_ITEM and status != 404:
                    wrong.append(f"{endpoint} answered {status}, not 404, to {who} "
                                 f"about {item.key}")
    if wrong:
        pytest.fail("\n".join(wrong))


def test_read_routes_show_each_person_what_they_may_see(office: Office):
    # The other half of the oracle: visibility is not "nobody sees anything".
    missing = []
    for endpoint in ("api.recent_messages", "api.timeline", "api.list_templates"):
        for who in PEOPLE:
            for item in ITEMS:
                status, text = PROBES[endpoint](office, who, item)
                assert status == 200, (endpoint, text)
                if item.key in SEES[who] and item.canary not in text:
                    missing.append(f"{endpoint} hid {item.key} from {who}")
    if missing:
        pytest.fail("\n".join(missing))


def test_state_changes_only_through_the_bearer_api(sqlite_url: str) -> None:
    # A4: no API route changes state on the strength of a cookie. Every POST/PUT/PATCH/
    # DELETE is under /api/v1 (a bearer credential, never a cookie), the Graph webhook
    # (its clientState) or the console (its session and CSRF token: tests/admin); a
    # cookie-only request to the API is refused.
    app = create_app({"TESTING": True, "DATABASE_URL": sqlite_url})
    try:
        writes = {rule.rule for rule in app.url_map.iter_rules()
                  if rule.methods - {"GET", "HEAD", "OPTIONS"}}
        assert all(r.startswith(("/api/v1/", "/admin/")) or r == "/webhooks/graph"
                   for r in writes), writes
        client = app.test_client()
        client.set_cookie("session", "anything")
        answer = client.post("/api/v1/track", json={"internet_message_id": "<a@b>",
                                                    "target": INITECH})
        assert answer.status_code == 401
    finally:
        app.extensions["crmsync"].dispose()
