"""Mail: ``messages/delta`` of one folder, turned into :class:`MailMessage` records.

https://learn.microsoft.com/graph/api/message-delta

Only what the CRM stores is selected; bodies come as text
(``Prefer: outlook.body-content-type="text"``); attachment metadata is fetched in
``$batch`` requests for the messages that have attachments.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator, Mapping
from email.utils import format_datetime, formataddr
from typing import Any

from crmsync.connectors.base import (
    HEADER_FIELDS,
    AttachmentInfo,
    Change,
    Deletion,
    MailMessage,
    Page,
    Unreadable,
)
from crmsync.connectors.graph.batch import batch_get
from crmsync.connectors.graph.client import GraphClient
from crmsync.connectors.graph.delta import delta_rounds, is_removed
from crmsync.connectors.graph.mail_folders import folder_ref
from crmsync.connectors.graph.times import parse_utc

SELECT = ",".join((
    "internetMessageId", "conversationId", "subject", "from", "sender", "toRecipients",
    "ccRecipients", "bccRecipients", "replyTo", "receivedDateTime", "sentDateTime", "body",
    "hasAttachments", "isRead", "isDraft", "flag", "importance", "internetMessageHeaders",
    "parentFolderId",
))
ROLES = {"inbox": "inbox", "sentitems": "sent"}
ADDRESS_FIELDS = (("from", "from"), ("sender", "sender"), ("replyTo", "reply-to"),
                  ("toRecipients", "to"), ("ccRecipients", "cc"), ("bccRecipients", "bcc"))


def fetch_messages(client: GraphClient, folder: str, cursor: str | None) -> Iterator[Page]:
    """Yield pages of ``folder``'s changes since ``cursor`` (see `Connector.fetch_changes`)."""
    settings = client.settings
    prefer = (f"odata.maxpagesize={settings.page_size}", 'outlook.body-content-type="text"')

    def start() -> str:
        ref = folder_ref(client, settings.address, folder)
        url = f"/users/{settings.address}/mailFolders/{ref}/messages/delta?$select={SELECT}"
        if settings.since:
            url += f"&$filter=receivedDateTime ge {settings.since.isoformat()}T00:00:00Z"
        return url

    for page in delta_rounds(client, cursor, start, prefer):
        live = [item for item in page.items if not is_removed(item)]
        attachments = _attachments(client, live)
        changes: list[Change] = []
        for item in page.items:
            if is_removed(item):
                changes.append(Deletion(item_id=str(item["id"]), folder=folder))
            else:
                changes.append(_record(item, folder, attachments.get(str(item["id"]), ())))
        yield Page(resource=f"mail:{folder}", changes=changes, cursor=page.link,
                   resync=page.resync, stats={"items": len(page.items)})


def _attachments(client: GraphClient, items: list[dict[str, Any]]
                 ) -> dict[str, tuple[AttachmentInfo, ...]]:
    wanted = [str(item["id"]) for item in items if item.get("hasAttachments")]
    if not wanted:
        return {}
    address = client.settings.address
    paths = [f"/users/{address}/messages/{item_id}/attachments?$select=name,contentType,size"
             for item_id in wanted]
    found: dict[str, tuple[AttachmentInfo, ...]] = {}
    for item_id, body in zip(wanted, batch_get(client, paths), strict=True):
        found[item_id] = tuple(
            AttachmentInfo(filename=a.get("name"), content_type=a.get("contentType") or
                           "application/octet-stream", size=int(a.get("size") or 0))
            for a in (body or {}).get("value", [])
        )
    return found


def _record(item: dict[str, Any], folder: str, attachments: tuple[AttachmentInfo, ...]
            ) -> Change:
    try:
        return message_record(item, folder, attachments)
    except (KeyError, TypeError, ValueError) as exc:
        raw = repr(item).encode("utf-8", "replace")
        return Unreadable(item_id=str(item.get("id", "")), folder=folder, raw=raw,
                          reason=f"unreadable Graph message: {exc!r}")


def message_record(item: Mapping[str, Any], folder: str,
                   attachments: tuple[AttachmentInfo, ...] = ()) -> MailMessage:
    """Turn one Graph ``message`` into a :class:`MailMessage` (pure, for captured payloads)."""
    headers = message_headers(item)
    body = body_text(item.get("body"))
    header_block = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    digest = hashlib.sha256(header_block.encode("utf-8", "replace") + (body or "").encode(
        "utf-8", "replace")).hexdigest()
    received = item.get("receivedDateTime")
    return MailMessage(
        item_id=str(item["id"]), folder=folder, headers=headers, body_text=body,
        attachments=attachments, size=len(header_block) + len(body or ""),
        received_at=parse_utc(received) if received else None, flags=_flags(item),
        content_hash=digest, raw_header=header_block.encode("utf-8", "replace"),
        conversation_id=item.get("conversationId"), folder_role=ROLES.get(folder.lower()),
    )


def message_headers(item: Mapping[str, Any]) -> dict[str, str]:
    """Build the RFC 5322 view mapping reads: structured fields first, raw headers after."""
    headers: dict[str, str] = {}
    if item.get("internetMessageId"):
        headers["message-id"] = str(item["internetMessageId"])
    if item.get("subject") is not None:
        headers["subject"] = str(item["subject"])
    if item.get("sentDateTime"):
        headers["date"] = format_datetime(parse_utc(item["sentDateTime"]))
    for field, name in ADDRESS_FIELDS:
        value = item.get(field)
        people = value if isinstance(value, list) else [value] if value else []
        text = ", ".join(_address(person) for person in people if _address(person))
        if text:
            headers[name] = text
    if item.get("importance"):
        headers["importance"] = str(item["importance"])
    for header in item.get("internetMessageHeaders") or []:
        name = str(header.get("name", "")).lower()
        if name in HEADER_FIELDS and name not in headers:
            headers[name] = str(header.get("value", ""))
    return headers


def _address(person: Any) -> str:
    email = (person or {}).get("emailAddress") or {}
    address = str(email.get("address") or "")
    return formataddr((str(email.get("name") or ""), address)) if address else ""


def body_text(body: Mapping[str, Any] | None) -> str | None:
    """Return the text of a Graph ``itemBody``; HTML (if the server ignored Prefer) is flattened."""
    if not body or not body.get("content"):
        return None
    content = str(body["content"])
    if str(body.get("contentType", "")).lower() == "html":
        content = re.sub(r"(?is)<(script|style|head).*?</\1>", "", content)
        content = html.unescape(re.sub(r"<[^>]+>", "", content)).strip()
    return content


def _flags(item: Mapping[str, Any]) -> tuple[str, ...]:
    flags = []
    if item.get("isRead") in (True, "true"):  # the docs' own sample sends "true"
        flags.append("\\Seen")
    if item.get("isDraft") in (True, "true"):
        flags.append("\\Draft")
    if (item.get("flag") or {}).get("flagStatus") == "flagged":
        flags.append("\\Flagged")
    return tuple(flags)
