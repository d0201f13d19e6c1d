"""Rules and settings: one page showing the organization's privacy rules, internal
domains, sharing and support mailboxes' setup, with a form for each change.

This module holds the page and the organization's two settings (internal domains,
sharing); :mod:`.settings_rules` adds privacy rules with their dry run and
:mod:`.settings_support` the support mailboxes' settings, keyword rules and templates.
Every change goes through the function the command line calls (``org set-domains``,
``org set-sharing``, ``rules add|remove``, ``cases settings``, ``cases rules|templates
import``), is refused with a 400 that says why, and leaves one audit row.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.models import Mailbox, Setting, Team, User
from crmsync.crm.rules import RULE_KINDS, rule_rows
from crmsync.crm.support import CaseRule
from crmsync.crm.templates import ReplyTemplate
from crmsync.crm.visibility import SHARING_CHOICES, set_sharing, sharing
from crmsync.errors import UserError
from crmsync.sync_service.context import INTERNAL_DOMAINS_SETTING, set_internal_domains
from crmsync.sync_service.support.settings import raw_settings
from crmsync.sync_service.web.admin.blueprint import NAV, blueprint, services
from crmsync.sync_service.web.admin.i18n import add_chinese, translate
from crmsync.sync_service.web.admin.signing_in import audit_action

#: the support settings the page shows and edits (``cases settings`` has them all)
SUPPORT_FIELDS = ("sla_hours", "business_hours", "holidays")
#: the longest value a settings form takes
MAX_FIELD = 500

NAV.append(("admin.settings", "Rules and settings"))


def form_text(name: str, limit: int = MAX_FIELD) -> str:
    """A form field, trimmed; longer than ``limit`` is refused, not cut (a cut value would
    be saved as something nobody typed).

    :raises UserError: the value is too long.
    """
    value = request.form.get(name, "").strip()
    if len(value) > limit:
        raise UserError(f"{name} is longer than {limit} characters")
    return value


def settings_page(status: int = 200, **extra: Any) -> Any:
    """The page, with ``extra`` for the template (``error``, ``dry_run``, ``typed``)."""
    with session_scope(services().sessions) as db:
        stored_domains = db.get(Setting, INTERNAL_DOMAINS_SETTING)
        page = {
            "rules": rule_rows(db), "rule_kinds": RULE_KINDS,
            "users": list(db.scalars(select(User.email).order_by(User.email))),
            "domains": (stored_domains.value if stored_domains else "").replace(";", " "),
            "configured_domains": services().config.get("INTERNAL_DOMAINS", ""),
            "sharing": sharing(db), "sharing_choices": SHARING_CHOICES,
            "support": {k: v for k, v in raw_settings(db).items() if k in SUPPORT_FIELDS},
            "support_mailboxes": list(db.scalars(
                select(Mailbox.name).where(Mailbox.purpose == "support",
                                           Mailbox.removed_at.is_(None)).order_by(Mailbox.name))),
            "case_rules": _case_rules(db), "templates": _templates(db),
        }
    return render_template("admin/settings.html", **page,
                           **{"error": "", "dry_run": None, "typed": {}, **extra}), status


def refused(exc: UserError, **extra: Any) -> Any:
    """The page again with why a form was refused (400; nothing was changed)."""
    return settings_page(400, error=str(exc), **extra)


def _case_rules(db) -> list[dict[str, Any]]:
    rows = db.execute(select(CaseRule, User.email, Team.name)
                      .outerjoin(User, User.id == CaseRule.owner_id)
                      .outerjoin(Team, Team.id == CaseRule.team_id)
                      .order_by(CaseRule.position, CaseRule.name))
    return [{"id": r.id, "name": r.name, "keywords": r.keywords, "category": r.category,
             "priority": r.priority, "owner": owner or "", "queue": queue or "",
             "templates": r.templates, "sla_hours": r.sla_hours, "position": r.position}
            for r, owner, queue in rows]


def _templates(db) -> list[dict[str, Any]]:
    return [{"id": t.id, "name": t.name, "subject": t.subject, "keywords": t.keywords,
             "category": t.category, "language": t.language}
            for t in db.scalars(select(ReplyTemplate).order_by(ReplyTemplate.name))]


@blueprint.get("/settings")
def settings() -> Any:
    """Privacy rules, internal domains, sharing and support mailboxes' setup, with a
    form for each change (admins) or read-only (managers)."""
    return settings_page()


@blueprint.post("/settings/domains")
def set_domains() -> Any:
    """Set the internal domains, as ``org set-domains`` does."""
    typed = request.form.get("domains", "")[:MAX_FIELD]
    try:
        with session_scope(services().sessions) as db:
            value = set_internal_domains(db, [form_text("domains")])
            audit_action(db, "org.set-domains", value)
    except UserError as exc:
        return refused(exc, typed={"form": "domains", "domains": typed})
    flash(translate("Internal domains saved."))
    return redirect(url_for("admin.settings") + "#domains")


@blueprint.post("/settings/sharing")
def change_sharing() -> Any:
    """Set the organization's sharing (private, team, everyone), as ``org set-sharing``."""
    choice = request.form.get("sharing", "")[:20]
    try:
        with session_scope(services().sessions) as db:
            set_sharing(db, choice)
            audit_action(db, "org.set-sharing", choice)
    except UserError as exc:
        return refused(exc)
    flash(translate("Sharing saved."))
    return redirect(url_for("admin.settings") + "#sharing")


add_chinese({
    "Privacy rules": "隐私规则",
    "Internal domains": "内部域名",
    "Sharing": "共享",
    "Support mailboxes": "支持邮箱",
    "Keyword rules": "关键词规则",
    "Reply templates": "回复模板",
    "Kind": "类型",
    "Value": "值",
    "User": "用户",
    "organization": "组织",
    "Dry run": "试运行",
    "Delete": "删除",
    "Cancel": "取消",
    "No rule yet: everything the capture rules allow is captured.":
        "尚无规则：采集规则允许的内容都会被采集。",
    "Mail among these domains only is internal and never captured.":
        "仅在这些域名之间往来的邮件属于内部邮件，不会被采集。",
    "Also set in the configuration": "配置中也已设置",
    "Who sees a rep's mail": "谁能看到销售代表的邮件",
    "private": "私有",
    "team": "团队",
    "everyone": "所有人",
    "Internal domains saved.": "内部域名已保存。",
    "Sharing saved.": "共享设置已保存。",
})
