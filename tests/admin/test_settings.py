"""Rules and settings: a privacy rule's dry run lists what Save would purge and changes
nothing; Save purges and is audited; sharing, internal domains and the support settings
change what the API and ``crmsync cases settings`` answer; hostile values are refused
or shown as text; managers only look."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.admin.chromium import console_page, serve_console, sign_in_page
from tests.admin.console import csrf_token, sign_in
from tests.conftest import SAMPLES, Cli
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.servers.dovecot import DovecotServer

ADMIN = "olivia.admin@northwind.example"  # no team
MANAGER = "mike.chen@northwind.example"
MARIA = "maria.lopez@northwind.example"  # Sales EMEA
LENA = "lena.berg@northwind.example"  # Sales EMEA, Maria's teammate
HANK = "hank@globex.example"  # Globex's CEO, a contact
#: the sample mailbox's mail from Globex (imported from a file: the organization's)
GLOBEX_SAMPLE = "Globex pilot kickoff"


def _mail(key: str, subject: str, owner: str) -> bytes:
    return (f"From: Hank Scorpio <{HANK}>\r\nTo: {owner}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{key}@globex.example>\r\nDate: Tue, 03 Nov 2026 10:00:00 +0000\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nAbout the pilot.\r\n").encode()


@pytest.fixture
def org(org: Cli) -> Cli:
    """The console's organization (tests/admin/conftest.py) with the sample mail, and
    Maria's teammate Lena."""
    org("user", "add", LENA, "--name", "Lena Berg", "--role", "rep", "--team", "Sales EMEA")
    org("mail", "import", str(SAMPLES / "mailbox.mbox"))
    return org


@pytest.fixture
def mailboxes(org: Cli, dovecot: DovecotServer) -> Cli:
    """Maria's and Lena's mailboxes, each holding one mail from Globex."""
    for key, owner in (("maria", MARIA), ("lena", LENA)):
        login = new_user(dovecot)
        dovecot.append(login, "INBOX", _mail(key, f"Globex order in {key}'s mailbox", owner))
        add_mailbox(org, dovecot, login, key, "--owner", owner)
        sync(org, key)
    return org


def _signed_in(app: Flask, who: str = ADMIN) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, who) == 302
    return client


def _post(client: FlaskClient, url: str, data: dict[str, str]) -> tuple[int, str]:
    answer = client.post(url, data={**data, "csrf_token": csrf_token(client, "/admin/settings")})
    return answer.status_code, answer.get_data(as_text=True)


def _subjects(cli: Cli) -> set[str]:
    return {a["subject"] for a in cli.export_activities()}


def _audit(cli: Cli, action: str) -> list[dict]:
    out = cli("audit", "list", "--action", action).output
    return [json.loads(line) for line in out.splitlines()]


def test_a_rules_dry_run_lists_what_save_purges_and_changes_nothing(
        mailboxes: Cli, app: Flask) -> None:
    # The dry run counts every activity the rule would purge but names only those the
    # admin may see (the file's, not Maria's or Lena's mailboxes'); it stores nothing.
    # Save then purges exactly those and leaves one audit row.
    before = _subjects(mailboxes)
    globex = {a["subject"] for a in mailboxes.export_activities()
              if any(p["address"].endswith("@globex.example") for p in a["participants"])}
    in_mailboxes = {"Globex order in maria's mailbox", "Globex order in lena's mailbox"}
    assert {GLOBEX_SAMPLE} | in_mailboxes < globex
    admin = _signed_in(app)
    status, page = _post(admin, "/admin/settings/rules/dry-run",
                         {"kind": "block-domain", "value": "Globex.Example", "user": ""})
    assert status == 200
    dry_run = page.split('id="dry-run"')[1].split("</div>\n</div>")[0]
    assert "Dry run: nothing was changed." in dry_run
    assert "Mail with anyone at globex.example (or its subdomains)" in dry_run
    assert (f'<span class="count">{len(globex)}</span> (2 of them you may not see)'
            in dry_run)
    listed = set(re.findall(r"<li>([^<]*)</li>", dry_run))
    assert listed == {s.replace("'", "&#39;") for s in globex - in_mailboxes}
    assert _subjects(mailboxes) == before
    assert mailboxes("rules", "list").output == ""
    status, _ = _post(admin, "/admin/settings/rules", {
        "kind": "block-domain", "value": "globex.example", "user": ""})
    assert status == 302
    assert _subjects(mailboxes) == before - globex
    assert mailboxes("rules", "list").output == "block-domain\tglobex.example\n"
    [event] = _audit(mailboxes, "rules.add")
    assert (event["actor"], event["target"], event["detail"]) == (
        ADMIN, "block-domain:globex.example", {"purged": len(globex), "user": None})
    assert "globex.example" in admin.get("/admin/settings").get_data(as_text=True)


def test_an_address_rule_is_audited_by_its_hash_and_removed(org: Cli, app: Flask) -> None:
    # A customer's address never lands in the audit log; removing the rule keeps the
    # purged mail purged.
    admin = _signed_in(app)
    status, _ = _post(admin, "/admin/settings/rules", {
        "kind": "block-address", "value": HANK, "user": ""})
    assert status == 302 and GLOBEX_SAMPLE not in _subjects(org)
    status, _ = _post(admin, "/admin/settings/rules/remove", {
        "kind": "block-address", "value": HANK, "user": ""})
    assert status == 302 and org("rules", "list").output == ""
    events = _audit(org, "rules.")
    assert [e["action"] for e in events] == ["rules.remove", "rules.add"]
    assert all(e["target"].startswith("block-address:sha256:") for e in events)
    assert HANK not in json.dumps(events) and GLOBEX_SAMPLE not in _subjects(org)


def test_sharing_set_to_private_hides_a_teammates_mail_from_the_api(
        mailboxes: Cli, app: Flask) -> None:
    # With team sharing Maria reads Lena's mail; once the admin sets sharing to private,
    # the API no longer gives it to her, and her own stays.
    key = {"Authorization": "Bearer " + mailboxes("apikey", "create", MARIA).output.strip()}
    api = app.test_client()

    def marias() -> set[str]:
        answer = api.get("/api/v1/messages?limit=100", headers=key)
        assert answer.status_code == 200
        return {m["subject"] for m in answer.get_json()["messages"]}

    assert "Globex order in lena's mailbox" in marias()
    admin = _signed_in(app)
    status, page = _post(admin, "/admin/settings/sharing", {"sharing": "public"})
    assert status == 400 and "sharing must be one of private, team, everyone" in page
    assert _post(admin, "/admin/settings/sharing", {"sharing": "private"})[0] == 302
    assert "Globex order in lena's mailbox" not in marias()
    assert "Globex order in maria's mailbox" in marias()
    [event] = _audit(mailboxes, "org.set-sharing")
    assert (event["actor"], event["target"]) == (ADMIN, "private")


def test_hostile_values_are_refused_or_shown_as_text(org: Cli, app: Flask) -> None:
    # A script as a domain or a rule is refused (400, nothing stored); as a keyword
    # rule's name or a template's body it is stored and shown as text, never markup.
    admin = _signed_in(app)
    hostile = "<script>alert(1)</script>.example"
    status, page = _post(admin, "/admin/settings/domains", {"domains": hostile})
    assert status == 400 and "not a mail domain" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.example" in page and "<script" not in page
    status, page = _post(admin, "/admin/settings/rules/dry-run", {
        "kind": "block-domain", "value": hostile, "user": ""})
    assert status == 400 and "<script" not in page and 'id="dry-run"' not in page
    assert org("rules", "list").output == ""
    status, _ = _post(admin, "/admin/settings/domains", {"domains": "northwind.example, "
                                                          "northwind-labs.example"})
    assert status == 302
    assert "northwind.example northwind-labs.example" in admin.get(
        "/admin/settings").get_data(as_text=True)
    status, _ = _post(admin, "/admin/settings/case-rules", {
        "name": "<script>alert(2)</script>", "keywords": "refund;退款", "category": "Billing"})
    assert status == 302
    status, _ = _post(admin, "/admin/settings/templates", {
        "name": "thanks", "subject": "<img src=x onerror=alert(3)>", "body": "Thank you"})
    assert status == 302
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(3)&gt;" in page
    assert "<script" not in page and "<img" not in page
    status, page = _post(admin, "/admin/settings/templates", {
        "name": "x" * 201, "body": "Hello"})
    assert status == 400 and "name is longer than 200 characters" in page


def test_support_settings_rules_and_templates_change_what_the_cli_shows(
        org: Cli, app: Flask) -> None:
    # SLA and business hours saved in the console are what `cases settings` shows; a
    # value that does not parse is refused and changes nothing; rules and templates are
    # added and deleted.
    admin = _signed_in(app)
    status, _ = _post(admin, "/admin/settings/support", {
        "sla_hours": "6", "business_hours": "Mon-Fri 09:00-17:00 Europe/Madrid",
        "holidays": ""})
    assert status == 302
    shown = org("cases", "settings").output
    assert "sla_hours = 6.0" in shown
    assert "business_hours = 'Mon-Fri 09:00-17:00 Europe/Madrid'" in shown
    for bad, why in (({"sla_hours": "soon"}, "expected float"),
                     ({"sla_hours": "6", "business_hours": "whenever"}, "")):
        status, page = _post(admin, "/admin/settings/support",
                             {"business_hours": "", "holidays": "", **bad})
        assert status == 400 and why in page and 'class="error"' in page
    assert org("cases", "settings").output == shown
    [event] = _audit(org, "cases.settings")
    assert event["detail"] == {"sla_hours": "6",
                               "business_hours": "Mon-Fri 09:00-17:00 Europe/Madrid"}
    status, page = _post(admin, "/admin/settings/case-rules", {
        "name": "refunds", "keywords": "refund", "owner_email": "nobody@northwind.example"})
    assert status == 400 and "no CRM user nobody@northwind.example" in page
    assert 'value="refund"' in page  # the refused form keeps what was typed
    assert _post(admin, "/admin/settings/case-rules", {
        "name": "refunds", "keywords": "refund;退款", "owner_email": MARIA,
        "sla_hours": "4", "position": "1"})[0] == 302
    assert _post(admin, "/admin/settings/templates", {
        "name": "refund-reply", "body": "Dear {contact_first_name},\n\nWe refund."})[0] == 302
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "<td>refund;退款</td>" in page and "<td>refund-reply</td>" in page
    with org.session() as session:
        from crmsync.crm.support import CaseRule
        from crmsync.crm.templates import ReplyTemplate

        rule = session.query(CaseRule).one()
        template = session.query(ReplyTemplate).one()
        assert (rule.sla_hours, template.body) == (4.0, "Dear {contact_first_name},\n\nWe refund.")
        rule_id, template_id = rule.id, template.id
    assert _post(admin, f"/admin/settings/case-rules/{rule_id}/delete", {})[0] == 302
    assert _post(admin, f"/admin/settings/templates/{template_id}/delete", {})[0] == 302
    assert _post(admin, f"/admin/settings/templates/{template_id}/delete", {})[0] == 400
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'class="case-rule"' not in page and 'class="template"' not in page
    assert [e["action"] for e in _audit(org, "cases.")] == [
        "cases.template.delete", "cases.rule.delete", "cases.template.save",
        "cases.rule.save", "cases.settings"]


def test_a_manager_only_looks(org: Cli, app: Flask) -> None:
    # A manager reads the settings without a form to change them; a POST is refused.
    org("rules", "add", "block-domain", "spam.example")
    manager = _signed_in(app, MANAGER)
    page = manager.get("/admin/settings").get_data(as_text=True)
    assert "spam.example" in page and "12.0" in page
    assert "Dry run" not in page and "<form method=\"post\" action=\"/admin/settings" not in page
    for url, data in (("/admin/settings/rules", {"kind": "block-domain", "value": "x.example"}),
                      ("/admin/settings/sharing", {"sharing": "everyone"})):
        token = csrf_token(manager, "/admin/settings")
        assert manager.post(url, data={**data, "csrf_token": token}).status_code == 403
    assert org("rules", "list").output == "block-domain\tspam.example\n"


def test_in_chromium_an_admin_dry_runs_a_rule_then_saves_it(org: Cli, browser) -> None:
    # Sign in, open Rules and settings, dry run a rule, read the subject it would purge,
    # save it: the mail is purged.
    with serve_console(org) as live, console_page(browser) as page:
        url = live.url
        sign_in_page(page, url)
        page.get_by_role("link", name="Rules and settings").click()
        rules = page.locator("#rules")
        rules.get_by_label("Kind", exact=True).select_option("block-domain")
        rules.get_by_label("Value", exact=True).fill("globex.example")
        rules.get_by_role("button", name="Dry run").click()
        dry_run = page.locator("#dry-run")
        assert dry_run.locator(".subjects li").all_inner_texts() == [GLOBEX_SAMPLE, "Pilot plan"]
        assert GLOBEX_SAMPLE in _subjects(org)
        dry_run.get_by_role("button", name="Save this rule").click()
        assert "Rule saved; stored activities purged: 2" in page.locator(
            ".notice").inner_text()
        assert "globex.example" in page.locator("#rules table").inner_text()
        assert GLOBEX_SAMPLE not in _subjects(org)
