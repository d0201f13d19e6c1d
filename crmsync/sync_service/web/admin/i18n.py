"""The console's two languages: English, and Simplified Chinese for browsers that ask.

Templates write English and call ``_("...")``; :data:`CHINESE` holds the translations.
A phrase missing there shows in English (``tests/admin/test_i18n.py`` lists none missing
from the templates). The browser's ``Accept-Language`` picks, like the task pane.
"""

from __future__ import annotations

from flask import g, request

LANGUAGES = ("en", "zh-CN")

CHINESE: dict[str, str] = {
    "Activities": "活动",
    "Mailboxes": "邮箱",
    "Quarantine": "隔离区",
    "Rules and settings": "规则与设置",
    "Users": "用户",
    "API keys": "API 密钥",
    "Audit log": "审计日志",
    "Sign in": "登录",
    "Sign out": "退出",
    "Email": "电子邮件",
    "Password": "密码",
    "Sign in with Microsoft": "使用 Microsoft 登录",
    "Sign in to the crmsync admin console": "登录 crmsync 管理控制台",
    "The email or password is wrong, or the account is locked for a while after too many "
    "attempts.": "电子邮件或密码错误，或因尝试次数过多账户暂时被锁定。",
    "Only admins can use the console.": "只有管理员可以使用控制台。",
    "This page was opened over plain http: the browser will not keep the console's secure "
    "session cookie, so signing in cannot work. Open the console over https (e.g. behind a "
    "reverse proxy), or at http://localhost on this machine.":
        "此页面通过普通 http 打开：浏览器不会保存控制台的安全会话 Cookie，因此无法登录。"
        "请通过 https（例如在反向代理之后）打开控制台，或在本机使用 http://localhost。",
    "Signed in as": "已登录：",
    "read-only": "只读",
    "Add mailbox": "添加邮箱",
    "Name": "名称",
    "Provider": "提供商",
    "Host": "主机",
    "Port": "端口",
    "Security": "安全",
    "Username": "用户名",
    "Owner": "所有者",
    "Purpose": "用途",
    "personal": "个人",
    "support": "支持",
    "Test connection": "测试连接",
    "Save": "保存",
    "Pause": "暂停",
    "Resume": "恢复",
    "Sync now": "立即同步",
    "Remove": "移除",
    "Resync from": "从此日期重新同步",
    "Status": "状态",
    "Last success": "上次成功",
    "Items": "项目",
    "Backlog": "待同步",
    "items": "项",
    "Push": "推送",
    "Next run": "下次运行",
    "Last error": "上次错误",
    "What to do": "下一步",
    "Recent runs": "最近运行",
    "Started": "开始",
    "Finished": "结束",
    "Errors": "错误",
    "never": "从未",
    "none": "无",
    "No mailbox connected yet.": "尚未连接邮箱。",
    "Connection works": "连接正常",
    "folders found": "个文件夹",
    "messages to fetch in": "封邮件待获取，文件夹",
    "Nothing was saved.": "未保存任何内容。",
    "Mailbox saved.": "邮箱已保存。",
    "Mailbox paused.": "邮箱已暂停。",
    "Mailbox resumed.": "邮箱已恢复。",
    "Mailbox removed; its stored activities stay.": "邮箱已移除；已存储的活动保留。",
    "Sync started.": "同步已开始。",
    "Paused by an admin: press Resume to sync it again.": "已被管理员暂停：点击“恢复”以再次同步。",
    "The mailbox will be fetched again from that date.": "邮箱将从该日期重新获取。",
    "The form expired or did not come from this console; nothing was changed.":
        "表单已过期或并非来自本控制台；未做任何更改。",
    "Client ID": "客户端 ID",
    "Client secret": "客户端密码",
    "Tenant": "租户",
    "Sign-in host (national clouds)": "登录主机（国家云）",
    "API host (national clouds)": "API 主机（国家云）",
    "Address": "地址",
    "IMAP": "IMAP",
    "Microsoft 365": "Microsoft 365",
    "Exchange": "Exchange",
    "Back": "返回",
    "Reason": "原因",
    "Preview": "预览",
    "Retry": "重试",
    "Discard": "丢弃",
    "Received": "接收时间",
    "Folder": "文件夹",
    "Nothing is quarantined.": "隔离区为空。",
    "Subject": "主题",
    "When": "时间",
    "Links": "关联",
    "Role": "角色",
    "Team": "团队",
}


def add_chinese(phrases: dict[str, str]) -> None:
    """A page module's own translations (each module keeps the phrases it shows)."""
    CHINESE.update(phrases)


def language() -> str:
    """The request's language: Chinese when the browser prefers it, else English."""
    if "language" not in g:
        best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
        g.language = "zh-CN" if best and best.startswith("zh") else "en"
    return g.language


def translate(text: str) -> str:
    return CHINESE.get(text, text) if language() == "zh-CN" else text
