"""People: users and their roles, API keys, and the audit log of what everyone did.

Each page goes through the same functions as the command line, so the console and a
shell cannot disagree: users are saved by :func:`crmsync.crm.sign_in.save_user`
(``crmsync user add``, which also refuses to demote the last admin), keys are issued,
listed and revoked by :mod:`crmsync.sync_service.web.api_keys` (``crmsync apikey``), and
the log is :func:`crmsync.crm.audit.recent_events` (``crmsync audit list``).

A key's secret is shown once, in the answer to the POST that issued it: never flashed
(the flash travels in the session cookie), never on the list, never in an audit row.
Passwords are typed into a form and hashed; no page or audit row ever holds one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crmsync.crm.audit import AuditEvent, event_shape, recent_events
from crmsync.crm.db import session_scope
from crmsync.crm.export import iso_utc
from crmsync.crm.models import User
from crmsync.crm.sign_in import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    LastAdminError,
    is_locked,
    save_user,
    unlock,
)
from crmsync.errors import UserError
from crmsync.sync_service.web.admin.blueprint import NAV, blueprint, services
from crmsync.sync_service.web.admin.i18n import add_chinese, translate
from crmsync.sync_service.web.admin.signing_in import CONSOLE_ROLES, audit_action, current_user
from crmsync.sync_service.web.api_keys import (
    DEFAULT_KEY_DAYS,
    MAX_KEY_DAYS,
    create_api_key,
    list_api_keys,
    require_user,
    revoke_api_key,
)

NAV.append(("admin.users", "Users"))
NAV.append(("admin.keys", "API keys"))
NAV.append(("admin.audit", "Audit log"))

#: the roles in the order the form offers them (most powers first)
ROLE_CHOICES = ("admin", "manager", "rep", "agent")
#: the longest name and team the users table holds (``users.name``, ``teams.name``)
FIELD_LIMITS = {"email": 320, "name": 200, "role": 20, "team": 200}
LABEL_LIMIT = 100
#: audit events a page shows; "Older" pages on from the oldest of them
AUDIT_PAGE = 50
#: the audit page's whole query string, and its action filter (``audit_events.action``)
QUERY_LIMIT = 300
ACTION_LIMIT = 100
LAST_ADMIN = ("You are the last admin: make another user an admin first, or nobody could "
              "run the console.")


def _field(name: str) -> str:
    """A form field, trimmed; longer than the column holds: refused (400), not cut."""
    value = request.form.get(name, "").strip()
    if len(value) > FIELD_LIMITS.get(name, LABEL_LIMIT):
        raise UserError(f"the {name} has at most {FIELD_LIMITS.get(name, LABEL_LIMIT)} "
                        "characters")
    return value


# --- users and roles ------------------------------------------------------------------

@blueprint.get("/users")
def users() -> Any:
    """Every user: role, team, whether they can sign in to the console, lockouts."""
    return _users_page()


def _users_page(error: str = "", form: dict[str, str] | None = None, status: int = 200) -> Any:
    now = datetime.now(UTC)
    with session_scope(services().sessions) as db:
        rows = [_user_row(u, now) for u in db.scalars(
            select(User).options(selectinload(User.team)).order_by(User.email))]
    return render_template("admin/users.html", users=rows, roles=ROLE_CHOICES, error=error,
                           form=form or {}, min_password=MIN_PASSWORD_LENGTH,
                           max_password=MAX_PASSWORD_LENGTH), status


def _user_row(user: User, now: datetime) -> dict[str, Any]:
    return {"email": user.email, "name": user.name, "role": user.role,
            "team": user.team.name if user.team else "", "console": _console_access(user),
            "locked_until": iso_utc(user.locked_until) if is_locked(user, now) else ""}


def _console_access(user: User) -> str:
    """Whether ``user`` can sign in to the console, and if not, why (in words)."""
    if user.role not in CONSOLE_ROLES:
        return "no: only admins and managers"
    if not user.password_hash:
        return "no: no password set"
    # managers look, admins change (signing_in.CONSOLE_ROLES)
    return "yes" if CONSOLE_ROLES[user.role] else "yes, read-only"


@blueprint.post("/users")
def user_save() -> Any:
    """Add a user or update one (a blank name, role or team keeps theirs)."""
    form = {f: request.form.get(f, "").strip()[:FIELD_LIMITS[f]] for f in FIELD_LIMITS}
    try:
        with session_scope(services().sessions) as db:
            email, name, role, team = (_field(f) for f in ("email", "name", "role", "team"))
            user = save_user(db, email, name, role or None, team or None)
            audit_action(db, "user.add", user.email, role=user.role, password_set=False)
    except LastAdminError:
        return _users_page(translate(LAST_ADMIN), form, 409)
    except UserError as exc:
        return _users_page(str(exc), form, 400)
    flash(translate("User saved."))
    return redirect(url_for("admin.users"))


@blueprint.post("/users/password")
def user_password() -> Any:
    """Give an existing user a console password (it also lifts a lockout)."""
    password = request.form.get("password", "")
    try:
        with session_scope(services().sessions) as db:
            user = require_user(db, _field("email"))
            save_user(db, user.email, password=password)
            audit_action(db, "user.set_password", user.email)
            email = user.email
    except UserError as exc:
        return _users_page(str(exc), status=400)
    flash(f"{translate('Password set for')} {email}.")
    return redirect(url_for("admin.users"))


@blueprint.post("/users/unlock")
def user_unlock() -> Any:
    """Lift a lockout now rather than when it runs out."""
    try:
        with session_scope(services().sessions) as db:
            user = require_user(db, _field("email"))
            unlock(user)
            audit_action(db, "user.unlock", user.email)
            email = user.email
    except UserError as exc:
        return _users_page(str(exc), status=400)
    flash(f"{translate('Unlocked')}: {email}.")
    return redirect(url_for("admin.users"))


# --- API keys -------------------------------------------------------------------------

@blueprint.get("/keys")
def keys() -> Any:
    """Every API key, newest first: whose, what for, until when, live or not (no secret)."""
    return _keys_page()


def _keys_page(issued: dict[str, str] | None = None, error: str = "",
               status: int = 200) -> Any:
    now = datetime.now(UTC)
    with session_scope(services().sessions) as db:
        rows = [_key_row(k, now) for k in reversed(list_api_keys(db))]
        emails = list(db.scalars(select(User.email).order_by(User.email)))
    return render_template("admin/keys.html", keys=rows, users=emails, issued=issued,
                           error=error, default_days=DEFAULT_KEY_DAYS,
                           max_days=MAX_KEY_DAYS), status


def _key_row(key: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A listed key (``list_api_keys`` never returns a secret) with its state in words."""
    if key["revoked_at"] is not None:
        state = "revoked"
    elif key["expires_at"] is not None and key["expires_at"] <= now:
        state = "expired"
    else:
        state = "live"
    return {**key, "created_at": iso_utc(key["created_at"]),
            "expires_at": iso_utc(key["expires_at"]), "state": state}


def _days(raw: str) -> int:
    """The key's lifetime in days, as ``apikey create --days`` takes it (0: never)."""
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 5 or int(raw) > MAX_KEY_DAYS:
        raise UserError(f"the key's lifetime is a number of days from 0 (never expires) "
                        f"to {MAX_KEY_DAYS}")
    return int(raw)


@blueprint.post("/keys")
def key_issue() -> Any:
    """Issue a key for a user and show it, this once, on the page that answers."""
    try:
        days = _days(request.form.get("days", ""))
        label = _field("label")
        with session_scope(services().sessions) as db:
            user = require_user(db, _field("email"))
            key = create_api_key(db, user.email, days=days or None, label=label)
            audit_action(db, "apikey.create", user.email, days=days, label=label)
            email = user.email
    except UserError as exc:
        return _keys_page(error=str(exc), status=400)
    return _keys_page(issued={"key": key, "user": email})


@blueprint.post("/keys/<int:key_id>/revoke")
def key_revoke(key_id: int) -> Any:
    """Revoke a key at once: its next request gets 401."""
    try:
        with session_scope(services().sessions) as db:
            revoke_api_key(db, key_id)
            audit_action(db, "apikey.revoke", str(key_id))
    except UserError:
        abort(404)
    flash(f"{translate('API key revoked')}: {key_id}.")
    return redirect(url_for("admin.keys"))


# --- the audit log --------------------------------------------------------------------

@blueprint.get("/audit")
def audit() -> Any:
    """The newest events, optionally one action or a prefix (``apikey.``), page by page.

    Admins only, as ``GET /api/v1/audit``: a manager's read-only console stops here.
    """
    if current_user()["role"] != "admin":
        abort(403, "only admins read the audit log")
    action, before = _audit_query()
    with session_scope(services().sessions) as db:
        events = recent_events(db, AUDIT_PAGE + 1, action or None, before)
        older = events[AUDIT_PAGE - 1].id if len(events) > AUDIT_PAGE else None
        rows = [_event_row(e) for e in events[:AUDIT_PAGE]]
    return render_template("admin/audit.html", events=rows, action=action, older=older)


def _audit_query() -> tuple[str, int | None]:
    """The filter and the page from the query string; oversized or malformed: 400."""
    if len(request.query_string) > QUERY_LIMIT:
        abort(400, "the query is too long")
    action = request.args.get("action", "").strip()
    before = request.args.get("before", "")
    if len(action) > ACTION_LIMIT:
        abort(400, f"an action has at most {ACTION_LIMIT} characters")
    if before and not (before.isdigit() and len(before) <= 18):
        abort(400, "before is an event number")
    return action, int(before) if before else None


def _event_row(event: AuditEvent) -> dict[str, Any]:
    shaped = event_shape(event)
    detail = shaped["detail"] or {}
    return {**shaped, "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True)
            if detail else ""}


add_chinese({
    "Users and roles": "用户与角色",
    "Console sign-in": "控制台登录",
    "Locked until": "锁定至",
    "Unlock": "解锁",
    "Unlocked": "已解锁",
    "admin": "管理员",
    "manager": "经理",
    "rep": "销售代表",
    "agent": "客服专员",
    "yes": "可以",
    "yes, read-only": "可以，只读",
    "no: only admins and managers": "不可以：仅限管理员和经理",
    "no: no password set": "不可以：未设置密码",
    "Add or update a user": "添加或更新用户",
    "Blank fields keep what the user has; a new user is a rep.":
        "留空的字段保持用户原有的值；新用户为销售代表。",
    "unchanged": "不变",
    "Set a console password": "设置控制台密码",
    "User": "用户",
    "At least {n} characters.": "至少 {n} 个字符。",
    "Set password": "设置密码",
    "Password set for": "已设置密码：",
    "User saved.": "用户已保存。",
    LAST_ADMIN: "你是最后一位管理员：请先让另一位用户成为管理员，否则将无人能管理控制台。",
    "No users yet.": "尚无用户。",
    "New API key for": "新 API 密钥，用户：",
    "Copy it now: it is shown only this once, and crmsync keeps only its hash.":
        "请立即复制：它只显示这一次，crmsync 只保存其哈希值。",
    "Label": "标签",
    "Created": "创建时间",
    "Expires": "过期时间",
    "State": "状态",
    "live": "有效",
    "expired": "已过期",
    "revoked": "已吊销",
    "Revoke": "吊销",
    "API key revoked": "API 密钥已吊销",
    "Issue a key": "签发密钥",
    "Expires after (days)": "有效期（天）",
    "0: never expires.": "0：永不过期。",
    "Issue key": "签发密钥",
    "No API keys yet.": "尚无 API 密钥。",
    "Action": "操作",
    "Actor": "执行者",
    "Target": "对象",
    "Source": "来源",
    "Detail": "详情",
    "Filter": "筛选",
    "An action (user.add) or the start of one, ending in a dot (apikey.).":
        "一个操作（如 user.add），或以点结尾的操作前缀（如 apikey.）。",
    "No events.": "没有事件。",
    "Older": "更早",
    "All": "全部",
})
