"""Office add-in manifests for a deployment: the XML add-in-only manifest and the unified JSON one.

Both describe the same add-in: a task pane on read and compose mail and on meetings
(organizer and attendee), served from ``<base-url>/addin/taskpane.html``, in English
and Simplified Chinese. The add-in id is derived from the base URL (UUID 5) so the
same deployment always gets the same id unless one is given.

Microsoft's references:
XML: https://learn.microsoft.com/office/dev/add-ins/develop/xml-manifest-overview
unified: https://learn.microsoft.com/office/dev/add-ins/develop/unified-manifest-overview
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from crmsync.errors import UserError

VERSION = "1.0.0"
PROVIDER = "crmsync"
STRINGS = {
    "en-US": {"name": "crmsync", "group": "CRM", "button": "Open CRM",
              "tip": "See the sender in the CRM, track this item, create a contact or case.",
              "description": "The CRM inside Outlook: contacts, accounts, deals and cases."},
    "zh-CN": {"name": "crmsync 客户关系", "group": "客户关系", "button": "打开 CRM",
              "tip": "在 CRM 中查看发件人、跟踪此项目、创建联系人或案例。",
              "description": "Outlook 中的 CRM：联系人、客户、商机和案例。"},
}


@dataclass(frozen=True)
class Deployment:
    """Where the add-in is served and, optionally, its Entra app for SSO tokens."""

    base_url: str
    app_id: str
    client_id: str | None = None

    @classmethod
    def for_url(cls, base_url: str, app_id: str | None = None,
                client_id: str | None = None) -> Deployment:
        """Check ``base_url`` (https, no query) and derive a stable add-in id from it."""
        parts = urlsplit(base_url.strip())
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise UserError(f"--base-url must be an https URL without query: {base_url!r}",
                            ["Outlook loads add-ins only over HTTPS"])
        base = f"https://{parts.netloc}{parts.path.rstrip('/')}"
        try:
            derived = uuid.uuid5(uuid.NAMESPACE_URL, base)
            identity = str(uuid.UUID(app_id)) if app_id else str(derived)
            client = str(uuid.UUID(client_id)) if client_id else None
        except ValueError as exc:
            raise UserError(f"not a GUID: {exc}") from exc
        return cls(base, identity, client)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def pane(self, mode: str) -> str:
        return self.url(f"/addin/taskpane.html?mode={mode}")

    def icon(self, size: int) -> str:
        return self.url(f"/addin/static/icons/icon-{size}.png")

    @property
    def sso_resource(self) -> str:
        return f"api://{self.host}/{self.client_id}"
