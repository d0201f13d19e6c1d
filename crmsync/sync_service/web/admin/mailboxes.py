"""Mailboxes: the list with status and what to do, add (test first), pause, resume, sync
now, resync from a date, remove, and each mailbox's recent runs.

Adding goes through :func:`~crmsync.sync_service.mailboxes.lifecycle.add`, the same as
``crmsync mailbox add``; "Test connection" connects with the typed settings and saves
nothing. A password typed once survives the test round trip sealed (encrypted and bound
to the signed-in admin) in the form, never as plain text in the page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from crmsync.crm.db import session_scope
from crmsync.crm.export import iso_utc
from crmsync.crm.models import ActivitySource, Mailbox, SyncRun, SyncState, User
from crmsync.crm.subscriptions import GraphSubscription
from crmsync.errors import CrmSyncError, UserError
from crmsync.sync_service.mailboxes import lifecycle
from crmsync.sync_service.mailboxes.connecting import spec_with_defaults
from crmsync.sync_service.mailboxes.credentials import SecretUnreadableError
from crmsync.sync_service.mailboxes.push_marks import POLLED, push_modes
from crmsync.sync_service.web.admin import exchange
from crmsync.sync_service.web.admin.blueprint import blueprint, services
from crmsync.sync_service.web.admin.i18n import add_chinese, translate
from crmsync.sync_service.web.admin.signing_in import audit_action, limit_view
from crmsync.sync_service.web.sync_requests import request_sync

#: the providers the add form offers, by the label INTERFACES gives them
PROVIDERS = {"imap": "IMAP", "graph": "Microsoft 365", "ews": "Exchange"}
SECURITY = ("ssl", "starttls", "none")
#: ``smtp_auth`` (``--smtp-auth``) as the form offers it
SMTP_AUTH_LABELS = {
    "login": "Log in with the username and password",
    "none": "No login (a relay that takes mail from this server)",
}
TEST_LIMIT = "5/minute"
RUNS_SHOWN = 20


@blueprint.get("/mailboxes")
def mailboxes() -> Any:
    """Console: every mailbox with status, items, push, next run, last error and the fix."""
    now = datetime.now(UTC)
    with session_scope(services().sessions) as db:
        rows = [_row(db, m, now) for m in db.scalars(
            select(Mailbox).where(lifecycle.active()).order_by(Mailbox.name))]
    return render_template("admin/mailboxes.html", mailboxes=rows)


def _row(db, mailbox: Mailbox, now: datetime) -> dict[str, Any]:
    items = db.scalar(select(func.count()).select_from(ActivitySource)
                      .where(ActivitySource.mailbox_id == mailbox.id))
    states = list(db.scalars(select(SyncState).where(SyncState.mailbox_id == mailbox.id)
                             .order_by(SyncState.resource)))
    return {
        "id": mailbox.id, "name": mailbox.name, "provider": PROVIDERS.get(
            mailbox.provider, mailbox.provider), "purpose": mailbox.purpose,
        "owner": mailbox.owner.email if mailbox.owner else "",
        "status": lifecycle.status_word(mailbox, now), "paused": mailbox.paused_at is not None,
        "last_success": iso_utc(mailbox.last_sync_at), "item_count": items,
        "backlog": [s.resource for s in states if s.phase != "poll"],
        "push": _push_state(db, mailbox, states, now), "next_run": _next_run(mailbox),
        "last_error": mailbox.last_error or "", "next_step": translate(
            lifecycle.next_step(mailbox)),
        "folders": [(s.resource, s.counters or {}, iso_utc(s.last_success_at)) for s in states],
    }


def _push_state(db, mailbox: Mailbox, states: list[SyncState], now: datetime) -> str:
    """Each folder's push for IMAP (IDLE or NOTIFY while serve watches it, else the poll),
    the subscriptions' expiry for Microsoft 365."""
    if mailbox.provider == "graph":
        expiry = db.scalar(select(func.min(GraphSubscription.expires_at))
                           .where(GraphSubscription.mailbox_id == mailbox.id))
        return f"webhook until {iso_utc(expiry)}" if expiry else "polling (no subscription)"
    modes = push_modes(states, now)
    if not any(mode != POLLED for mode in modes.values()):
        return "polling"
    return ", ".join(f"{folder}: {mode}" for folder, mode in modes.items())


def _next_run(mailbox: Mailbox) -> str:
    if mailbox.paused_at is not None:
        return "paused"
    if mailbox.last_sync_at is None:
        return "next scheduler pass"
    poll = timedelta(seconds=current_app.config.get("POLL_SECONDS", 300))
    return iso_utc(mailbox.last_sync_at + poll) or ""


@blueprint.get("/mailboxes/<int:mailbox_id>")
def mailbox_detail(mailbox_id: int) -> Any:
    """Console: one mailbox, its folders and its recent runs; resync from a date."""
    with session_scope(services().sessions) as db:
        mailbox = _mailbox(db, mailbox_id)
        row = _row(db, mailbox, datetime.now(UTC))
        runs = [{"started": iso_utc(r.started_at), "finished": iso_utc(r.finished_at),
                 "status": lifecycle.word(r.status), "item_count": r.items,
                 "error": r.error or ""}
                for r in db.scalars(select(SyncRun).where(SyncRun.mailbox_id == mailbox_id)
                                    .order_by(SyncRun.id.desc()).limit(RUNS_SHOWN))]
    return render_template("admin/mailbox.html", m=row, runs=runs)


def _mailbox(db, mailbox_id: int) -> Mailbox:
    mailbox = db.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.removed_at is not None:
        abort(404)
    return mailbox


def _action(mailbox_id: int, change, action: str, message: str, then_sync: bool = False) -> Any:
    with session_scope(services().sessions) as db:
        name = _mailbox(db, mailbox_id).name
        change(db, name)
        audit_action(db, action, name)
    if then_sync:
        request_sync(services(), name, on_thread=False)
    flash(translate(message))
    return redirect(request.form.get("back") or url_for("admin.mailboxes"))


@blueprint.post("/mailboxes/<int:mailbox_id>/pause")
def pause(mailbox_id: int) -> Any:
    """Console: stop syncing a mailbox until resumed."""
    return _action(mailbox_id, lifecycle.pause, "mailbox.pause", "Mailbox paused.")


@blueprint.post("/mailboxes/<int:mailbox_id>/resume")
def resume(mailbox_id: int) -> Any:
    """Console: sync a paused mailbox again."""
    return _action(mailbox_id, lifecycle.resume, "mailbox.resume", "Mailbox resumed.",
                   then_sync=True)


@blueprint.post("/mailboxes/<int:mailbox_id>/remove")
def remove(mailbox_id: int) -> Any:
    """Console: disconnect a mailbox for good (its stored activities stay)."""
    return _action(mailbox_id, lifecycle.remove, "mailbox.remove",
                   "Mailbox removed; its stored activities stay.")


@blueprint.post("/mailboxes/<int:mailbox_id>/resync")
def resync(mailbox_id: int) -> Any:
    """Console: fetch a mailbox again from a date (stored mail is not stored twice)."""
    try:
        since = date.fromisoformat(request.form.get("since", "")[:10])
    except ValueError:
        abort(400, "give the date to fetch from as YYYY-MM-DD")
    with session_scope(services().sessions) as db:
        name = _mailbox(db, mailbox_id).name
        lifecycle.resync_from(db, name, since)
        audit_action(db, "mailbox.resync", name, since=since.isoformat())
    flash(translate("The mailbox will be fetched again from that date."))
    return redirect(url_for("admin.mailbox_detail", mailbox_id=mailbox_id))


@blueprint.post("/mailboxes/<int:mailbox_id>/sync")
def sync_now(mailbox_id: int) -> Any:
    """Console: have the mailbox synced now, by the scheduler, a worker or a thread."""
    with session_scope(services().sessions) as db:
        mailbox = _mailbox(db, mailbox_id)
        if mailbox.paused_at is not None:
            flash(translate("Paused by an admin: press Resume to sync it again."))
            return redirect(url_for("admin.mailboxes"))
        name = mailbox.name
        audit_action(db, "mailbox.sync_now", name)
    request_sync(services(), name)
    flash(translate("Sync started."))
    return redirect(request.form.get("back") or url_for("admin.mailboxes"))


# --- adding a mailbox ---------------------------------------------------------------

def _owners() -> list[str]:
    with session_scope(services().sessions) as db:
        return list(db.scalars(select(User.email).order_by(User.email)))


def _form_page(form: dict[str, str], outcome: dict[str, str] | None = None,
               sealed: str = "", status: int = 200) -> Any:
    return render_template("admin/mailbox_add.html", form=form, outcome=outcome,
                           providers=PROVIDERS, security=SECURITY, owners=_owners(),
                           auth_labels=exchange.AUTH_LABELS, smtp_auth=SMTP_AUTH_LABELS,
                           sealed=sealed), status


@blueprint.get("/mailboxes/new")
def add_form() -> Any:
    """Console: the form that adds a mailbox (IMAP, Microsoft 365 or Exchange)."""
    return _form_page({"provider": "imap", "security": "ssl", "port": "993",
                       "purpose": "personal", **exchange.DEFAULTS})


def _typed() -> dict[str, str]:
    """The form's fields (never the password), trimmed and size-limited."""
    fields = ("name", "provider", "host", "port", "security", "username", "owner", "purpose",
              "smtp_host", "smtp_port", "smtp_security", "smtp_auth", "folders", "since",
              "tenant", "client_id", "address",
              "authority_url", "graph_url", *exchange.TEXT_FIELDS)
    typed = {f: request.form.get(f, "").strip()[:500] for f in fields}
    return typed | {f: "1" if request.form.get(f) else "" for f in exchange.CHECKBOXES}


def _secret(form: dict[str, str]) -> str:
    """The password (IMAP, Exchange) or client secret (Microsoft 365): typed now, or sealed by an
    earlier test of this form."""
    typed = request.form.get("password", "")[:4096]
    if typed:
        return typed
    sealed = request.form.get("sealed", "")
    if sealed:
        try:
            return services().secret_box().open(bytes.fromhex(sealed), _seal_binding())
        except (ValueError, SecretUnreadableError):
            pass
    raise UserError("enter the password")


def _seal_binding() -> str:
    return f"console-form:{session.get('uid')}"


def _new_mailbox(form: dict[str, str], secret: str) -> lifecycle.NewMailbox:
    """The mailbox the form describes, checked as ``mailbox add`` would check it."""
    if not form["name"] or len(form["name"]) > 200:
        raise UserError("give the mailbox a name (up to 200 characters)")
    provider = form["provider"]
    if provider not in PROVIDERS:
        raise UserError("choose a provider")
    if form["purpose"] not in ("personal", "support"):
        raise UserError("choose personal or support")
    settings: dict[str, Any] = {}
    if form["folders"]:
        settings["folders"] = [f.strip() for f in form["folders"].split(",") if f.strip()]
    if form["since"]:
        try:
            settings["since"] = date.fromisoformat(form["since"]).isoformat()
        except ValueError as exc:
            raise UserError("give the backfill date as YYYY-MM-DD") from exc
    if provider == "imap":
        if form["security"] not in SECURITY:
            raise UserError("choose ssl, starttls or none")
        if not form["host"] or not form["username"]:
            raise UserError("give the server's host and the user name")
        settings.update(host=form["host"], port=_port(form["port"]), username=form["username"],
                        security=form["security"], auth="password")
        if form["smtp_host"]:
            settings["smtp_host"] = form["smtp_host"]
            if form["smtp_port"]:
                settings["smtp_port"] = _port(form["smtp_port"])
            settings.update(_smtp_choices(form))
    elif provider == "ews":
        settings.update(exchange.settings_from_form(form))
    else:
        if not (form["tenant"] and form["client_id"] and form["address"]):
            raise UserError("give the tenant, the app's client ID and the mailbox address")
        settings.update(tenant=form["tenant"], client_id=form["client_id"],
                        address=form["address"], credential="secret", calendar=True,
                        contacts=True)
        for key in ("authority_url", "graph_url"):
            if form[key]:
                settings[key] = form[key]
    return lifecycle.NewMailbox(form["name"], provider, settings, secret,
                                form["owner"] or None, form["purpose"])


def _smtp_choices(form: dict[str, str]) -> dict[str, str]:
    """SMTP security and login as ``mailbox add imap --smtp-security/--smtp-auth`` store
    them (empty: the defaults, starttls and login)."""
    chosen: dict[str, str] = {}
    if form["smtp_security"]:
        if form["smtp_security"] not in SECURITY:
            raise UserError("choose ssl, starttls or none")
        chosen["smtp_security"] = form["smtp_security"]
    if form["smtp_auth"]:
        if form["smtp_auth"] not in SMTP_AUTH_LABELS:
            raise UserError(translate("Choose how crmsync logs in to the SMTP server."))
        chosen["smtp_auth"] = form["smtp_auth"]
    return chosen


def _port(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise UserError("the port is a number from 1 to 65535")
    return int(raw)


@blueprint.post("/mailboxes/test")
def test_connection() -> Any:
    """Connect with the typed settings: sign-in, folders found, messages counted."""
    form = _typed()
    sealed = request.form.get("sealed", "")
    try:
        new = _new_mailbox(form, _secret(form))
        lifecycle.check_servers(new.provider, new.settings)
        outcome = _probe(new)
    except CrmSyncError as exc:
        text = _explain(form, exc)
        return _form_page(form, {"ok": "", "text": text + " " + translate("Nothing was saved.")},
                          sealed, 400)
    sealed = services().secret_box().seal(new.secret, _seal_binding()).hex()
    return _form_page(form, outcome, sealed)


def _explain(form: dict[str, str], exc: CrmSyncError) -> str:
    """A refused test or save in plain words, with what to do."""
    if form["provider"] == "ews":
        return exchange.explain(exc)
    return lifecycle.explain_failure(exc)


def _probe(new: lifecycle.NewMailbox) -> dict[str, str]:
    spec = spec_with_defaults(services(), new.provider, new.settings, new.secret)
    with spec.build() as connector:
        if new.provider == "ews":
            return exchange.probe(connector)
        folders = connector.list_resources()
        first = folders[0] if folders else ""
        count = connector.backfill_size(first, None) if first else 0
    return {"ok": "1", "text": f"{translate('Connection works')}: {len(folders)} "
            f"{translate('folders found')}, {count} {translate('messages to fetch in')} "
            f"{first}."}


@blueprint.post("/mailboxes/new")
def add() -> Any:
    """Console: save a new mailbox (checked as ``crmsync mailbox add`` checks it)."""
    form = _typed()
    sealed = request.form.get("sealed", "")
    try:
        new = _new_mailbox(form, _secret(form))
        with session_scope(services().sessions) as db:
            mailbox = lifecycle.add(db, services().secret_box(), new)
            audit_action(db, "mailbox.add", new.name, provider=new.provider, purpose=new.purpose)
            mailbox_id = mailbox.id
    except CrmSyncError as exc:
        return _form_page(form, {"ok": "", "text": _explain(form, exc) + " "
                                 + translate("Nothing was saved.")}, sealed, 400)
    request_sync(services(), new.name, on_thread=False)
    flash(translate("Mailbox saved."))
    return redirect(url_for("admin.mailbox_detail", mailbox_id=mailbox_id))


def install_limits(app) -> None:
    """Test connection: ``TEST_LIMIT`` per signed-in admin (it opens outside connections)."""
    limit_view(app, "admin.test_connection", TEST_LIMIT,
               key_func=lambda: f"console-test:{session.get('uid')}")


add_chinese({
    "SMTP host (for sending)": "SMTP 主机（用于发送）",
    "SMTP port": "SMTP 端口",
    "SMTP security": "SMTP 安全",
    "SMTP login": "SMTP 登录",
    "Log in with the username and password": "使用用户名和密码登录",
    "No login (a relay that takes mail from this server)": "不登录（接受本服务器邮件的中继）",
    "Choose how crmsync logs in to the SMTP server.": "请选择 crmsync 登录 SMTP 服务器的方式。",
})
