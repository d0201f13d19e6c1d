"""RELIABILITY A8 at the console: every state-changing console route, driven once by an
admin, leaves exactly one audit row — with the admin, the action, the target and the
source address — and no canary secret in any row. The route list comes from the app:
a new POST route without a call here fails the suite."""

from __future__ import annotations

import json

from flask import Flask

from tests.admin.conftest import ADMIN, REP
from tests.admin.console import csrf_token, sign_in
from tests.conftest import Cli
from tests.engine.mailboxes import add_mailbox
from tests.servers.dovecot import DovecotServer, new_user

CANARY_PASSWORD = "canary-console-secret-91f2"

#: endpoint → (url, form), in the order they run (each acts on what earlier ones made)
CALLS: dict[str, tuple[str, dict[str, str]]] = {
    "admin.pause": ("/admin/mailboxes/1/pause", {}),
    "admin.resume": ("/admin/mailboxes/1/resume", {}),
    "admin.sync_now": ("/admin/mailboxes/1/sync", {}),
    "admin.resync": ("/admin/mailboxes/1/resync", {"since": "2026-01-01"}),
    "admin.user_save": ("/admin/users", {"email": "new.rep@northwind.example",
                                         "name": "New Rep", "role": "rep", "team": ""}),
    "admin.user_password": ("/admin/users/password", {"email": "new.rep@northwind.example",
                                                      "password": CANARY_PASSWORD}),
    "admin.user_unlock": ("/admin/users/unlock", {"email": "new.rep@northwind.example"}),
    "admin.key_issue": ("/admin/keys", {"email": REP, "label": "audit", "days": "30"}),
    "admin.key_revoke": ("/admin/keys/{key_id}/revoke", {}),
    "admin.rule_add": ("/admin/settings/rules", {"kind": "block-domain",
                                                 "value": "spam.example", "user": ""}),
    "admin.rule_remove": ("/admin/settings/rules/remove", {"kind": "block-domain",
                                                           "value": "spam.example",
                                                           "user": ""}),
    "admin.set_domains": ("/admin/settings/domains", {"domains": "northwind.example"}),
    "admin.change_sharing": ("/admin/settings/sharing", {"sharing": "everyone"}),
    "admin.support_settings": ("/admin/settings/support", {
        "sla_hours": "6", "business_hours": "", "holidays": ""}),
    "admin.case_rule_save": ("/admin/settings/case-rules", {
        "name": "refunds", "keywords": "refund", "owner_email": REP, "sla_hours": "4",
        "position": "1"}),
    "admin.case_rule_delete": ("/admin/settings/case-rules/{rule_id}/delete", {}),
    "admin.template_save": ("/admin/settings/templates", {"name": "t", "body": "Hello"}),
    "admin.template_delete": ("/admin/settings/templates/{template_id}/delete", {}),
    "admin.add": ("/admin/mailboxes/new", {
        "name": "second", "provider": "imap", "host": "{host}", "port": "{port}",
        "security": "none", "username": "{user}", "password": CANARY_PASSWORD,
        "owner": REP, "purpose": "personal"}),
    "admin.remove": ("/admin/mailboxes/1/remove", {}),
}
#: POST routes that change nothing an audit row is for, or are driven elsewhere, and why
NOT_HERE = {
    "admin.sign_in": "audited as console.sign_in (tests/admin/test_sign_in.py)",
    "admin.sign_out": "ends the session only",
    "admin.test_connection": "connects and saves nothing",
    "admin.rule_dry_run": "shows what a rule would do and saves nothing",
    "admin.quarantine_retry": "audited in tests/admin/test_quarantine.py (needs a quarantined "
                              "item)",
    "admin.quarantine_discard": "audited in tests/admin/test_quarantine.py",
    "admin.microsoft365_consent": "audited in tests/admin/test_console_entra.py",
    "admin.microsoft365_reauth": "audited in tests/admin/test_console_entra.py",
}


def _audit(org: Cli) -> list[dict]:
    return [json.loads(line) for line in org("audit", "list", "--limit", "1000")
            .output.splitlines()]


def test_every_console_change_writes_one_audit_row(app: Flask, org: Cli,
                                                   dovecot: DovecotServer) -> None:
    posts = {rule.endpoint for rule in app.url_map.iter_rules()
             if str(rule).startswith("/admin") and "POST" in rule.methods}
    assert posts == set(CALLS) | set(NOT_HERE)
    add_mailbox(org, dovecot, new_user(dovecot), "first")
    user = new_user(dovecot)
    client = app.test_client()
    sign_in(client, ADMIN)
    values = {"host": dovecot.host, "port": str(dovecot.port), "user": user}
    problems = []
    for endpoint, (url, form) in CALLS.items():
        values.update(_current_ids(org))
        before = len(_audit(org))
        data = {k: v.format(**values) for k, v in form.items()}
        answer = client.post(url.format(**values), data={
            **data, "csrf_token": csrf_token(client, "/admin/mailboxes")})
        if answer.status_code not in (200, 302):
            problems.append(f"{endpoint}: {answer.status_code}")
            continue
        rows = _audit(org)[: len(_audit(org)) - before]
        if len(rows) != 1:
            problems.append(f"{endpoint}: {len(rows)} audit rows")
            continue
        row = rows[0]
        if row["actor"] != ADMIN or row["source"] != "127.0.0.1" or not row["action"]:
            problems.append(f"{endpoint}: {row}")
    assert not problems, "\n".join(problems)
    assert CANARY_PASSWORD not in org("audit", "list", "--limit", "1000").output


def _current_ids(org: Cli) -> dict[str, str]:
    """The ids the later calls act on: the newest key, keyword rule and template."""
    from crmsync.crm.models import ApiKey
    from crmsync.crm.support import CaseRule
    from crmsync.crm.templates import ReplyTemplate

    with org.session() as session:
        newest = {name: session.query(model.id).order_by(model.id.desc()).limit(1).scalar()
                  for name, model in (("key_id", ApiKey), ("rule_id", CaseRule),
                                      ("template_id", ReplyTemplate))}
    return {name: str(value or 0) for name, value in newest.items()}
