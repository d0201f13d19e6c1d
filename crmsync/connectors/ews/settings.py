"""What one Exchange Server mailbox connection needs to know, validated once.

Resource names (the engine keeps one cursor per resource):

- ``mail:<folder>``: ``SyncFolderItems`` of one mail folder, ``<folder>`` a distinguished
  folder id (``inbox``, ``sentitems``, ...) or a folder's display name under the top of
  the mailbox (``Projects/2026`` for a nested one);
- ``calendar``: the default calendar, occurrences within a rolling window;
- ``contacts``: the default contacts folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from crmsync.connectors.https import https_host
from crmsync.errors import ConfigError

DEFAULT_FOLDERS = ("inbox", "sentitems")
#: EWS's distinguished folder ids for mail folders: addressable without looking them up
DISTINGUISHED_MAIL_FOLDERS = frozenset({
    "inbox", "sentitems", "drafts", "deleteditems", "junkemail", "outbox", "archiveinbox",
})
#: SyncFolderItems returns at most this many changes per call
MAX_CHANGES = 512
#: Exchange Online's EWS hosts: mailboxes there are synced through Graph
EXCHANGE_ONLINE_HOSTS = ("outlook.office365.com", "outlook.office.com", "outlook.live.com",
                         "partner.outlook.cn", "outlook.office365.us",
                         "webmail.apps.mil")
EXCHANGE_ONLINE = ("this is Exchange Online, which crmsync syncs through Microsoft Graph "
                   "(Microsoft is retiring EWS there): add the mailbox with "
                   "`crmsync mailbox add graph` instead")
AUTH_TYPES = ("ntlm", "basic")


def is_exchange_online(url: str) -> bool:
    """Whether ``url`` is an Exchange Online EWS endpoint."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == known or host.endswith("." + known) for known in EXCHANGE_ONLINE_HOSTS)


@dataclass(frozen=True)
class EwsSettings:
    """Settings of one Exchange Server mailbox.

    :param url: the EWS endpoint (``https://HOST/EWS/Exchange.asmx``).
    :param username: who signs in (``DOMAIN\\user`` or ``user@domain``).
    :param address: the mailbox synced (SMTP address).
    :param impersonate: the account is a service account with the ApplicationImpersonation
        role acting as ``address`` (else it must own ``address``).
    :param window_days: the calendar window, days before and after today.
    :param max_wait: the longest ``BackOffMilliseconds`` waited out in place (seconds); a
        longer one ends the run with :class:`~crmsync.errors.TransientError` carrying it.
    """

    url: str
    username: str
    address: str
    auth: str = "ntlm"
    impersonate: bool = False
    folders: tuple[str, ...] = DEFAULT_FOLDERS
    calendar: bool = True
    contacts: bool = True
    window_days: tuple[int, int] = (30, 365)
    page_size: int = 100
    since: date | None = None
    max_wait: float = 60.0
    max_retries: int = 8

    def resources(self) -> list[str]:
        names = [f"mail:{folder}" for folder in self.folders]
        return names + ["calendar"] * self.calendar + ["contacts"] * self.contacts

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> EwsSettings:
        """Validate stored settings.

        :raises ConfigError: a required key is missing, the URL is not https (the
            :data:`~crmsync.connectors.network.REFUSED` refusal), points at Exchange
            Online, or a value is malformed.
        """
        missing = [key for key in ("url", "username") if not raw.get(key)]
        if missing:
            raise ConfigError("ews mailbox settings incomplete",
                              [f"missing {key}" for key in missing])
        url = str(raw["url"])
        if is_exchange_online(url):
            raise ConfigError(EXCHANGE_ONLINE, [url])
        https_host(url)
        auth = str(raw.get("auth") or "ntlm").lower()
        if auth not in AUTH_TYPES:
            raise ConfigError("auth must be ntlm or basic", [auth])
        username = str(raw["username"])
        address = str(raw.get("address") or "")
        if not address:
            if "@" not in username:
                raise ConfigError("the mailbox address is missing",
                                  ["give --address when the user name is not an address"])
            address = username
        window = raw.get("window_days") or (30, 365)
        since = raw.get("since")
        return cls(
            url=url, username=username, address=address.lower(), auth=auth,
            impersonate=bool(raw.get("impersonate")),
            folders=tuple(raw.get("folders") or DEFAULT_FOLDERS),
            calendar=bool(raw.get("calendar", True)), contacts=bool(raw.get("contacts", True)),
            window_days=(int(window[0]), int(window[1])),
            page_size=max(1, min(int(raw.get("batch_size") or 100), MAX_CHANGES)),
            since=date.fromisoformat(since) if since else None,
            max_wait=float(raw.get("max_wait", 60.0)),
            max_retries=int(raw.get("max_retries", 8)),
        )
