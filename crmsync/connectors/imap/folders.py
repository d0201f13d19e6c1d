"""Find the Inbox and the Sent folder: by SPECIAL-USE (RFC 6154), else by name.

LIST: RFC 3501 6.3.8; SPECIAL-USE attributes: https://www.rfc-editor.org/rfc/rfc6154.
"""

from __future__ import annotations

from imapclient import IMAPClient

#: Names servers and clients give the Sent folder, most common first.
SENT_NAMES: tuple[str, ...] = (
    "Sent",
    "Sent Items",
    "Sent Messages",
    "Sent Mail",
    "Sent Mails",
    "Gesendet",
    "Gesendete Objekte",
    "Gesendete Elemente",
    "Envoyés",
    "Éléments envoyés",
    "Messages envoyés",
    "Enviados",
    "Elementos enviados",
    "Inviati",
    "Posta inviata",
    "Verzonden",
    "Verzonden items",
    "Skickat",
    "Skickade objekt",
    "Sendt",
    "Wysłane",
    "Отправленные",
    "已发送",
    "已发送邮件",
    "寄件備份",
    "送信済み",
    "送信済みアイテム",
    "보낸 편지함",
)


def discover_folders(client: IMAPClient) -> dict[str, str]:
    r"""Return folder name → role: ``INBOX`` → ``inbox`` and the Sent folder → ``sent``.

    A folder flagged ``\Sent`` wins; else the first name in :data:`SENT_NAMES` that
    matches a folder's full name or its last component (``INBOX.Sent``,
    ``[Gmail]/Sent Mail``), case-insensitively.
    """
    listed = client.list_folders()
    roles = {"INBOX": "inbox"}
    for flags, _delimiter, name in listed:
        if b"\\Sent" in flags or "\\Sent" in flags:
            roles[name] = "sent"
            return roles
    by_name: dict[str, str] = {}
    for _flags, delimiter, name in listed:
        leaf = name.rsplit(delimiter.decode(), 1)[-1] if delimiter else name
        by_name.setdefault(name.casefold(), name)
        by_name.setdefault(leaf.casefold(), name)
    for candidate in SENT_NAMES:
        if candidate.casefold() in by_name:
            roles[by_name[candidate.casefold()]] = "sent"
            break
    return roles
