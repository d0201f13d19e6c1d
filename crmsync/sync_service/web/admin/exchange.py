"""The add form's Exchange Server (EWS) mailboxes: their fields, Test connection's
finding, and the refusals worded for the console.

The settings are the ones ``crmsync mailbox add ews`` stores, so a mailbox added here
and one added on the command line sync alike; the checks that matter (https at a public
address, Exchange Online refused) are :func:`~crmsync.sync_service.mailboxes.lifecycle.
check_servers`'s, the same for both.
"""

from __future__ import annotations

from typing import Any

from crmsync.connectors.ews.settings import AUTH_TYPES, EXCHANGE_ONLINE
from crmsync.errors import ConfigError, CrmSyncError, UserError
from crmsync.sync_service.mailboxes import lifecycle
from crmsync.sync_service.web.admin.i18n import add_chinese, translate

#: the form's Exchange fields (text), beside the ones every provider has
TEXT_FIELDS = ("url", "auth", "mailbox_address")
#: its checkboxes: "1" when ticked, "" when not
CHECKBOXES = ("impersonate", "calendar", "contacts")
#: what the add form starts with for an Exchange mailbox
DEFAULTS = {"auth": "ntlm", "calendar": "1", "contacts": "1"}
#: the authentication choices, as people read them
AUTH_LABELS = {"ntlm": "NTLM", "basic": "Basic"}


def settings_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The stored settings of the Exchange mailbox the form describes (the same keys as
    ``mailbox add ews``); the URL itself is checked by ``lifecycle.check_servers``.

    :raises UserError: a field is missing or a choice is not one of the form's.
    """
    if not form["url"] or not form["username"]:
        raise UserError(translate(
            "Give the server URL (https://HOST/EWS/Exchange.asmx) and the user name."))
    auth = form["auth"] or "ntlm"
    if auth not in AUTH_TYPES:
        raise UserError(translate("Choose NTLM or Basic."))
    address = form["mailbox_address"]
    if form["impersonate"] and not address:
        raise UserError(translate(
            "Give the mailbox address: the service account impersonates that mailbox."))
    if not address and "@" not in form["username"]:
        raise UserError(translate(
            "Give the mailbox address (the user name is not an email address)."))
    settings: dict[str, Any] = {
        "url": form["url"], "username": form["username"], "auth": auth,
        "address": (address or form["username"]).lower(),
        "calendar": bool(form["calendar"]), "contacts": bool(form["contacts"]),
    }
    if form["impersonate"]:
        settings["impersonate"] = True
    return settings


def probe(connector: Any) -> dict[str, str]:
    """Test connection's finding: signed in, the Inbox found and its messages counted
    (one GetFolder, which Exchange answers only after the sign-in, and for an
    impersonated mailbox only when the service account may impersonate it); each other
    chosen mail folder is looked up too, so a mistyped one shows now, not at the first
    sync."""
    count = connector.backfill_size("mail:inbox", None)
    for resource in connector.list_resources():
        if resource.startswith("mail:"):
            connector.folder(resource.removeprefix("mail:"))
    return {"ok": "1", "text": translate(
        "Connection works: signed in to Exchange, the Inbox found, {count} messages in it "
        "to fetch.").format(count=count)}


def explain(exc: CrmSyncError) -> str:
    """A refusal in the console's words: an Exchange Online URL points to the provider
    Microsoft 365 (the command line's message names ``mailbox add graph``)."""
    if isinstance(exc, ConfigError) and str(exc) == EXCHANGE_ONLINE:
        return translate(
            "This is Exchange Online, which crmsync syncs through Microsoft Graph (Microsoft "
            "is retiring EWS there): choose the provider Microsoft 365 instead.")
    return lifecycle.explain_failure(exc, "ews")


add_chinese({
    "Server URL": "服务器 URL",
    "Authentication": "身份验证",
    "Mailbox address": "邮箱地址",
    "Impersonate": "模拟",
    "The user is a service account with the ApplicationImpersonation role that syncs the "
    "mailbox address above.":
        "该用户是具有 ApplicationImpersonation 角色的服务账户，用于同步上面的邮箱地址。",
    "Sync the calendar": "同步日历",
    "Sync contacts": "同步联系人",
    "Folders": "文件夹",
    "Comma-separated; empty: the Inbox and Sent Items.": "以逗号分隔；留空：收件箱和已发送邮件。",
    "Give the server URL (https://HOST/EWS/Exchange.asmx) and the user name.":
        "请填写服务器 URL（https://HOST/EWS/Exchange.asmx）和用户名。",
    "Choose NTLM or Basic.": "请选择 NTLM 或 Basic。",
    "Give the mailbox address: the service account impersonates that mailbox.":
        "请填写邮箱地址：服务账户将模拟该邮箱。",
    "Give the mailbox address (the user name is not an email address).":
        "请填写邮箱地址（用户名不是电子邮件地址）。",
    "Connection works: signed in to Exchange, the Inbox found, {count} messages in it "
    "to fetch.": "连接正常：已登录 Exchange，已找到收件箱，其中有 {count} 封邮件待获取。",
    "This is Exchange Online, which crmsync syncs through Microsoft Graph (Microsoft is "
    "retiring EWS there): choose the provider Microsoft 365 instead.":
        "这是 Exchange Online，crmsync 通过 Microsoft Graph 同步它（Microsoft 正在停用其中的 "
        "EWS）：请改为选择提供商 Microsoft 365。",
    # what to do about an Exchange mailbox (lifecycle.next_step)
    "Exchange refused the impersonation: an Exchange admin grants the service account the "
    "ApplicationImpersonation role (the last error says how); then press Sync now.":
        "Exchange 拒绝了模拟：请 Exchange 管理员为服务账户授予 ApplicationImpersonation "
        "角色（上次错误中有方法），然后点击“立即同步”。",
    "The Exchange server could not be reached: check the server URL and that its "
    "certificate is trusted.": "无法连接 Exchange 服务器：请检查服务器 URL，以及其证书是否受信任。",
})
