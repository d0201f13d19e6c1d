"""Quarantine: the items crmsync could not process, each with its reason in plain words
and a safe preview of its text; Retry and Discard.

An admin sees the items of the mailboxes whose mail they may see, and those of imported
files (:func:`~crmsync.crm.visibility.visible_quarantine`). The preview is the mail's
text, never its HTML: the text/plain part, else the text of the HTML part with every tag
dropped, cut at :data:`PREVIEW_CHARS` and rendered escaped. Retry and Discard call the
same functions as ``crmsync quarantine`` (:mod:`crmsync.sync_service.engine.quarantine`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from sqlalchemy import func, select

from crmsync.connectors.mime import (
    decode_text,
    decode_words,
    html_to_text,
    parse_header_block,
    split_header_block,
)
from crmsync.crm.db import session_scope
from crmsync.crm.export import iso_utc
from crmsync.crm.models import Mailbox, QuarantinedItem
from crmsync.crm.visibility import reads_private_text, visible_quarantine
from crmsync.mapping.privacy import PRIVATE, sensitivity_of
from crmsync.sync_service.engine.quarantine import (
    HEADER_ONLY,
    NOT_MAIL,
    discard_quarantined,
    explain,
    retry_item,
)
from crmsync.sync_service.web.admin.blueprint import NAV, blueprint, services
from crmsync.sync_service.web.admin.i18n import add_chinese, translate
from crmsync.sync_service.web.admin.signing_in import audit_action, current_user

#: items listed, newest first
PAGE = 100
#: characters of text a preview shows (about 2 KB)
PREVIEW_CHARS = 2000
#: bytes of an item read for its preview: headers and the first text part fit
PREVIEW_BYTES = 256 * 1024
#: leaf parts looked at for a text part (a hostile tree has thousands)
MAX_PARTS = 200
_PARSER = BytesParser(policy=policy.compat32)
_TAG = re.compile(r"<[a-zA-Z/!][^>]*>")

NAV.append(("admin.quarantine", "Quarantine"))


@dataclass(frozen=True)
class Preview:
    """What the page shows of an item's content (all of it plain text)."""

    subject: str
    sender: str
    text: str
    private: bool


def preview(raw: bytes) -> Preview:
    """Return the subject, sender and text of ``raw`` (a mail, or whatever was kept).

    Text comes from the first text/plain part, else from the first text/html part
    reduced to its visible text; a part that does not decode in its charset shows
    replacement characters. What is not mail at all shows as text, tags dropped.
    """
    if raw.startswith(b"From "):  # an mbox envelope line
        raw = raw.partition(b"\n")[2]
    block, body = split_header_block(raw)
    headers = parse_header_block(block)
    text = _text_part(raw) if headers else None
    if text is None:
        text = _as_text(decode_text(body if headers else raw, None))
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS] + " …"
    return Preview(decode_words(headers.get("subject")) or "",
                   decode_words(headers.get("from")) or "", text.strip(),
                   sensitivity_of(headers) == PRIVATE)


def _text_part(raw: bytes) -> str | None:
    """The text of the first plain part, else of the first HTML part; None when none."""
    try:
        leaves = [p for p in _PARSER.parsebytes(raw).walk() if not p.is_multipart()]
    except (RecursionError, ValueError, TypeError, LookupError):
        return None
    html = None
    for part in leaves[:MAX_PARTS]:
        if part.get_content_maintype() != "text" or _is_attachment(part):
            continue
        subtype = part.get_content_subtype()
        if subtype == "plain":
            return _decoded(part)
        if subtype == "html" and html is None:
            html = html_to_text(_decoded(part))
    return html


def _is_attachment(part: Message) -> bool:
    return (part.get("Content-Disposition") or "").strip().lower().startswith("attachment")


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    return decode_text(payload if isinstance(payload, bytes) else b"",
                       part.get_content_charset())


def _as_text(text: str) -> str:
    """Text kept outside any MIME part (a cut-short mail, other data): tags dropped when
    it holds any, so no HTML ever shows as markup or as source."""
    return html_to_text(text) if _TAG.search(text) else text


# -- the page ------------------------------------------------------------------------


def _visible():
    """Quarantine rows the signed-in user may see (bound to them)."""
    return select(QuarantinedItem).where(visible_quarantine()).params(
        **current_user()["viewer"].seen_by)


@blueprint.get("/quarantine")
def quarantine() -> Any:
    """The quarantined items the signed-in user may see, newest first, each with its
    reason in plain words and a text-only preview."""
    viewer = current_user()["viewer"]
    seen = visible_quarantine()
    with session_scope(services().sessions) as db:
        rows = db.execute(
            select(QuarantinedItem.id, QuarantinedItem.origin, QuarantinedItem.folder,
                   QuarantinedItem.created_at, QuarantinedItem.reason, Mailbox,
                   func.length(QuarantinedItem.raw),
                   func.substr(QuarantinedItem.raw, 1, PREVIEW_BYTES))
            .outerjoin(Mailbox, Mailbox.id == QuarantinedItem.mailbox_id)
            .where(seen).params(**viewer.seen_by)
            .order_by(QuarantinedItem.created_at.desc(), QuarantinedItem.id.desc()).limit(PAGE)
        ).all()
        total = db.scalar(select(func.count()).select_from(QuarantinedItem).where(seen)
                          .params(**viewer.seen_by))
        items = [_row(viewer, *row) for row in rows]
    return render_template("admin/quarantine.html", items=items, total=total)


def _row(viewer, item_id: int, origin: str, folder: str, at, reason: str,
         mailbox: Mailbox | None, size: int, head: bytes) -> dict[str, Any]:
    shown = preview(bytes(head))
    hidden = shown.private and not reads_private_text(viewer, mailbox)
    return {
        "id": item_id, "where": mailbox.name if mailbox else origin.removeprefix("file:"),
        "is_file": mailbox is None, "folder": folder, "received": iso_utc(at), "size": size,
        "reason": reason, "explanation": translate(explain(reason)),
        "subject": "" if hidden else shown.subject, "sender": "" if hidden else shown.sender,
        "text": "" if hidden else shown.text, "hidden": hidden,
    }


def _item(db, item_id: int) -> QuarantinedItem:
    """The item, when the signed-in admin may see it (else 404: it is not theirs to see)."""
    item = db.scalars(_visible().where(QuarantinedItem.id == item_id)).first()
    if item is None:
        abort(404)
    return item


@blueprint.post("/quarantine/<int:item_id>/retry")
def quarantine_retry(item_id: int) -> Any:
    """Run the item through the pipeline again (audited): stored, it leaves the
    quarantine; failing again, it stays with the new reason."""
    with session_scope(services().sessions) as db:
        outcome = retry_item(db, services(), _item(db, item_id))
        audit_action(db, "quarantine.retry", item_id, resolved=outcome.resolved)
    if outcome.resolved and outcome.result.startswith("skipped"):
        flash(f"{translate('Retried: the rules skip this mail')} ({outcome.result}).")
    elif outcome.resolved:
        flash(translate("Retried: the mail is stored and shows under Activities."))
    else:
        flash(f"{translate('Still quarantined')}: {translate(outcome.result)}")
    return redirect(url_for("admin.quarantine"))


@blueprint.post("/quarantine/<int:item_id>/discard")
def quarantine_discard(item_id: int) -> Any:
    """Delete the item for good (audited by its id only)."""
    with session_scope(services().sessions) as db:
        discard_quarantined(db, _item(db, item_id).id)
        audit_action(db, "quarantine.discard", item_id)
    flash(translate("Discarded."))
    return redirect(url_for("admin.quarantine"))


add_chinese({
    "Items crmsync could not process, kept whole with the reason: nothing is lost.":
        "crmsync 无法处理的项目，连同原因完整保留：不会丢失任何内容。",
    "Size": "大小",
    "bytes": "字节",
    "Mailbox or file": "邮箱或文件",
    "From": "发件人",
    "Private mail: only its mailbox's owner reads its text.":
        "私人邮件：只有邮箱所有者可以阅读其正文。",
    "no text": "无正文",
    "shown": "显示",
    "of": "共",
    "Retried: the rules skip this mail": "已重试：规则跳过此邮件",
    "Retried: the mail is stored and shows under Activities.":
        "已重试：邮件已存储，可在“活动”中查看。",
    "Still quarantined": "仍在隔离区",
    "Discarded.": "已丢弃。",
    NOT_MAIL:
        "重试只读取邮件，而此项没有邮件头（日历数据或邮件服务的记录）："
        "请重新导入其文件，或丢弃。",
    HEADER_ONLY:
        "crmsync 只保留了此邮件的邮件头（超过大小限制，或无法获取正文），"
        "因此重试无法重建邮件：请在其邮箱上按邮件日期使用“从此日期重新同步”重新获取，然后丢弃此项。",
    explain("no sender address"):
        "邮件没有发件人（没有 From 或 Sender 地址），crmsync 无法判断作者或适用的规则。"
        "重试不会改变这一点：阅读后请丢弃。",
    explain("exceeds the limit"):
        "邮件大于大小限制（MAX_MESSAGE_BYTES），因此只获取了邮件头。"
        "请提高限制，在邮箱上按邮件日期使用“从此日期重新同步”，然后丢弃此项。",
    explain("nul bytes"):
        "该项在邮件头的位置包含二进制数据：不是 crmsync 能读取的邮件。"
        "除非您预期这里是邮件，否则请丢弃。",
    explain("no mail header fields"):
        "该项没有邮件头（From、To、Subject……）：不是 crmsync 能读取的邮件。"
        "除非您预期这里是邮件，否则请丢弃。",
    explain("empty message"): "该项为空。请丢弃。",
    explain("mime"): "邮件结构损坏，超出 crmsync 的读取能力。升级 crmsync 后重试，或丢弃。",
    explain("the database refused it"):
        "数据库拒绝存储该邮件（原因中指出了具体的值）。升级 crmsync 或修复数据库后重试。",
    explain("unparsable fetch answer"):
        "邮件服务器对此邮件的应答无法读取。重试会读取此处保留的副本。",
    explain("could not be"):
        "crmsync 处理此邮件时出错（crmsync 的缺陷；服务日志中有详细信息）。"
        "升级 crmsync 后重试。",
    explain("graph"): "Microsoft 365 返回的此项格式 crmsync 无法读取。请保留以便报告缺陷，或丢弃。",
    explain("time zone"): "会议使用了 crmsync 不认识的时区。升级 crmsync 后重新导入日历，或丢弃。",
    explain("meeting"): "crmsync 无法读取的会议。升级 crmsync 后重新导入日历，或丢弃。",
})
