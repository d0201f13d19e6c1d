"""Privacy rules on the settings page: add one only after a dry run, remove one.

"Dry run" shows what the rule would stop capturing and which stored activities saving it
would purge (how many, and the subjects of the first few the admin may see), and
changes nothing; only "Save", offered with the dry run's outcome, stores the rule and
purges. Both run :func:`~crmsync.crm.erase.purge_for_rule`, as ``crmsync rules add``
does, so the dry run lists exactly what Save purges.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import flash, redirect, request, url_for
from sqlalchemy import select

from crmsync.crm.db import session_scope
from crmsync.crm.erase import purge_for_rule
from crmsync.crm.models import Activity, User
from crmsync.crm.rules import RULE_KINDS, audit_target, check_rule, remove_rule
from crmsync.crm.visibility import visible_activities
from crmsync.errors import UserError
from crmsync.sync_service.web.admin.blueprint import blueprint, services
from crmsync.sync_service.web.admin.i18n import add_chinese, translate
from crmsync.sync_service.web.admin.settings import form_text, refused, settings_page
from crmsync.sync_service.web.admin.signing_in import audit_action, current_user

#: subjects a dry run lists
SHOWN = 10
#: activity ids checked against the viewer's visibility per query
BATCH = 500


def _typed() -> dict[str, str]:
    """The rule form as typed (for showing it again), size-limited."""
    return {"form": "rule", "kind": request.form.get("kind", "")[:30],
            "value": request.form.get("value", "")[:320],
            "user": request.form.get("user", "")[:320]}


def _rule(db) -> tuple[str, str, int | None, str]:
    """The rule the form describes: kind, stored value, user id and user email.

    :raises UserError: an unknown kind or user, or a value that is no address or domain.
    """
    kind = request.form.get("kind", "")
    if kind not in RULE_KINDS:
        raise UserError(f"choose a kind of rule: {', '.join(RULE_KINDS)}")
    email = form_text("user", 320).lower()
    user_id = None
    if email:
        user_id = db.scalar(select(User.id).where(User.email == email))
        if user_id is None:
            raise UserError(f"no CRM user {email}")
    return kind, check_rule(kind, form_text("value", 320), user_id), user_id, email


def describe(kind: str, stored: str, email: str) -> str:
    """What the rule stops capturing, in words."""
    if kind == "do-not-capture" and "@" not in stored:
        text = translate("Mail with anyone at {value} will no longer be captured in {user}'s "
                         "mailboxes.")
    elif kind == "do-not-capture":
        text = translate("Mail with {value} will no longer be captured in {user}'s mailboxes.")
    elif "@" in stored:
        text = translate("Mail with {value} will no longer be captured, in any mailbox.")
    else:
        text = translate("Mail with anyone at {value} (or its subdomains) will no longer be "
                         "captured, in any mailbox.")
    return text.format(value=stored, user=email)


def _visible_subjects(db, purged: list[tuple[int, str, str]]) -> list[str]:
    """The subjects, in order, of the purged activities the signed-in admin may see."""
    seen_by = current_user()["viewer"].seen_by
    visible: set[int] = set()
    ids = [activity_id for activity_id, _, _ in purged]
    for start in range(0, len(ids), BATCH):
        visible.update(db.scalars(select(Activity.id).where(
            Activity.id.in_(ids[start:start + BATCH]), visible_activities()).params(**seen_by)))
    return [subject for activity_id, subject, _ in purged if activity_id in visible]


@blueprint.post("/settings/rules/dry-run")
def rule_dry_run() -> Any:
    """What saving the rule would do; stores nothing."""
    try:
        with session_scope(services().sessions) as db:
            kind, stored, user_id, email = _rule(db)
            purged = purge_for_rule(db, kind, stored, datetime.now(UTC), user_id, dry_run=True)
            subjects = _visible_subjects(db, purged)
            db.rollback()  # nothing to undo; and nothing may be written by a dry run
    except UserError as exc:
        return refused(exc, typed=_typed())
    return settings_page(typed=_typed(), dry_run={
        "kind": kind, "value": stored, "user": email, "effect": describe(kind, stored, email),
        "count": len(purged), "subjects": subjects[:SHOWN],
        "unseen": len(purged) - len(subjects)})


@blueprint.post("/settings/rules")
def rule_add() -> Any:
    """Store the rule and purge the stored activities it forbids."""
    try:
        with session_scope(services().sessions) as db:
            kind, stored, user_id, email = _rule(db)
            purged = purge_for_rule(db, kind, stored, datetime.now(UTC), user_id)
            audit_action(db, "rules.add", audit_target(kind, stored), purged=len(purged),
                  user=email or None)
    except UserError as exc:
        return refused(exc, typed=_typed())
    flash(translate("Rule saved; stored activities purged:") + f" {len(purged)}")
    return redirect(url_for("admin.settings") + "#rules")


@blueprint.post("/settings/rules/remove")
def rule_remove() -> Any:
    """Remove a rule; what it purged stays purged."""
    try:
        with session_scope(services().sessions) as db:
            kind, stored, user_id, email = _rule(db)
            removed = remove_rule(db, kind, stored, user_id)
            audit_action(db, "rules.remove", audit_target(kind, stored), removed=removed,
                  user=email or None)
    except UserError as exc:
        return refused(exc)
    flash(translate("Rule removed; mail it purged stays purged."))
    return redirect(url_for("admin.settings") + "#rules")


add_chinese({
    "Mail with {value} will no longer be captured in {user}'s mailboxes.":
        "与 {value} 往来的邮件将不再在 {user} 的邮箱中采集。",
    "Mail with anyone at {value} will no longer be captured in {user}'s mailboxes.":
        "与 {value} 任何人往来的邮件将不再在 {user} 的邮箱中采集。",
    "Mail with {value} will no longer be captured, in any mailbox.":
        "与 {value} 往来的邮件将不再在任何邮箱中采集。",
    "Mail with anyone at {value} (or its subdomains) will no longer be captured, in any "
    "mailbox.": "与 {value}（或其子域名）任何人往来的邮件将不再在任何邮箱中采集。",
    "Rule saved; stored activities purged:": "规则已保存；已清除的存储活动：",
    "Rule removed; mail it purged stays purged.": "规则已移除；已清除的邮件保持清除。",
    "Dry run: nothing was changed.": "试运行：未做任何更改。",
    "Stored activities that would be purged": "将被清除的存储活动",
    "of them you may not see": "条您无权查看",
    "Save this rule": "保存此规则",
})
