"""Support mailboxes on the settings page: SLA and business hours, keyword rules and reply
templates.

The settings are the organization's (``crmsync cases settings``), so they hold for every
support mailbox; the page lists which mailboxes those are. Rules and templates are saved
and deleted by :mod:`crmsync.crm.case_setup`, as ``cases rules|templates import`` saves
them: a rule or template with the same name is replaced.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for

from crmsync.crm.case_setup import (
    CASE_RULE_FIELDS,
    TEMPLATE_FIELDS,
    delete_case_rule,
    delete_template,
    save_case_rule,
    save_template,
)
from crmsync.crm.db import session_scope
from crmsync.errors import UserError
from crmsync.sync_service.support.settings import raw_settings, store_setting
from crmsync.sync_service.web.admin.blueprint import blueprint, services
from crmsync.sync_service.web.admin.i18n import add_chinese, translate
from crmsync.sync_service.web.admin.settings import (
    SUPPORT_FIELDS,
    form_text,
    refused,
)
from crmsync.sync_service.web.admin.signing_in import audit_action

#: a template's body may be long; every other field is short
MAX_BODY = 20_000


def _back(anchor: str, message: str) -> Any:
    flash(translate(message))
    return redirect(url_for("admin.settings") + anchor)


def _form(form: str, fields: tuple[str, ...]) -> dict[str, str]:
    """Form ``form``'s fields as typed (for showing it again when refused), size-limited."""
    return {"form": form, **{f: request.form.get(f, "")[:MAX_BODY if f == "body" else 500]
                             for f in fields}}


@blueprint.post("/settings/support")
def support_settings() -> Any:
    """Store the SLA hours, business hours and holidays (each checked as ``cases settings``
    checks it; the whole set must still parse)."""
    try:
        with session_scope(services().sessions) as db:
            current = raw_settings(db)
            changed = {}
            for name in SUPPORT_FIELDS:
                value = form_text(name)
                if value != str(current[name]):
                    store_setting(db, name, value)
                    changed[name] = value
            if changed:
                audit_action(db, "cases.settings", ",".join(changed), **changed)
    except UserError as exc:
        return refused(exc, typed=_form("support", SUPPORT_FIELDS))
    return _back("#support", "Support settings saved.")


@blueprint.post("/settings/case-rules")
def case_rule_save() -> Any:
    """Add a keyword rule, or replace the one with the same name."""
    typed = _form("case_rule", CASE_RULE_FIELDS)
    try:
        with session_scope(services().sessions) as db:
            rule = save_case_rule(db, {f: form_text(f) for f in CASE_RULE_FIELDS})
            audit_action(db, "cases.rule.save", rule.name)
    except UserError as exc:
        return refused(exc, typed=typed)
    return _back("#case-rules", "Keyword rule saved.")


@blueprint.post("/settings/case-rules/<int:rule_id>/delete")
def case_rule_delete(rule_id: int) -> Any:
    """Delete a keyword rule; its cases keep what it gave them."""
    try:
        with session_scope(services().sessions) as db:
            audit_action(db, "cases.rule.delete", delete_case_rule(db, rule_id))
    except UserError as exc:
        return refused(exc)
    return _back("#case-rules", "Keyword rule deleted; its cases keep their category.")


@blueprint.post("/settings/templates")
def template_save() -> Any:
    """Add a reply template, or replace the one with the same name."""
    typed = _form("template", TEMPLATE_FIELDS)
    try:
        fields = {f: form_text(f, MAX_BODY if f == "body" else 500) for f in TEMPLATE_FIELDS}
        with session_scope(services().sessions) as db:
            template = save_template(db, {**fields, "body": request.form.get("body", "")})
            audit_action(db, "cases.template.save", template.name)
    except UserError as exc:
        return refused(exc, typed=typed)
    return _back("#templates", "Reply template saved.")


@blueprint.post("/settings/templates/<int:template_id>/delete")
def template_delete(template_id: int) -> Any:
    """Delete a reply template."""
    try:
        with session_scope(services().sessions) as db:
            audit_action(db, "cases.template.delete", delete_template(db, template_id))
    except UserError as exc:
        return refused(exc)
    return _back("#templates", "Reply template deleted; rules naming it skip it, and "
                               "acknowledgements use the built-in text.")


add_chinese({
    "Support settings saved.": "支持设置已保存。",
    "Keyword rule saved.": "关键词规则已保存。",
    "Keyword rule deleted; its cases keep their category.": "关键词规则已删除；其案例保留分类。",
    "Reply template saved.": "回复模板已保存。",
    "Reply template deleted; rules naming it skip it, and acknowledgements use the built-in "
    "text.": "回复模板已删除；引用它的规则会跳过它，确认邮件使用内置文本。",
    "These settings hold for every support mailbox:": "这些设置适用于所有支持邮箱：",
    "No support mailbox yet.": "尚无支持邮箱。",
    "SLA hours": "SLA 小时数",
    "Business hours": "工作时间",
    "Holidays": "节假日",
    "Keywords": "关键词",
    "Category": "分类",
    "Priority": "优先级",
    "Queue": "队列",
    "Templates": "模板",
    "Position": "顺序",
    "Body": "正文",
    "Language": "语言",
    "Add or replace a rule": "添加或替换规则",
    "Add or replace a template": "添加或替换模板",
    "default": "默认",
})
