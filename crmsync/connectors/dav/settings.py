"""What one CalDAV/CardDAV account connection needs to know, validated once.

Resource names (the engine keeps one cursor per resource):

- ``calendar``: the account's first calendar (as the server lists them), occurrences
  within a rolling window;
- ``contacts``: the account's first address book that is not the ``CRM`` one crmsync
  writes (see :mod:`crmsync.connectors.dav.publish`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crmsync.connectors.https import https_host
from crmsync.errors import ConfigError


@dataclass(frozen=True)
class DavSettings:
    """Settings of one CalDAV/CardDAV account.

    :param url: where discovery starts (``current-user-principal`` is asked there): the
        server's DAV root (``https://HOST/remote.php/dav/`` on Nextcloud) or the
        principal's URL.
    :param username: who signs in (HTTP Basic or Digest, always over TLS).
    :param address: the account's mail address (``--owner``'s): the ORGANIZER of the
        meetings crmsync writes to the calendar.
    :param sync_tokens: use RFC 6578 sync-collection where the server offers it; off, the
        collection's CTag and its items' ETags are compared instead (servers without it).
    :param window_days: the calendar window, days before and after today.
    """

    url: str
    username: str
    address: str = ""
    calendar: bool = True
    contacts: bool = True
    sync_tokens: bool = True
    window_days: tuple[int, int] = (30, 365)
    page_size: int = 100

    def resources(self) -> list[str]:
        return ["calendar"] * self.calendar + ["contacts"] * self.contacts

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> DavSettings:
        """Validate stored settings.

        :raises ConfigError: a required key is missing, the URL is not https (the
            :data:`~crmsync.connectors.network.REFUSED` refusal) or a value is malformed.
        """
        missing = [key for key in ("url", "username") if not raw.get(key)]
        if missing:
            raise ConfigError("caldav mailbox settings incomplete",
                              [f"missing {key}" for key in missing])
        url = str(raw["url"])
        https_host(url)
        window = raw.get("window_days") or (30, 365)
        return cls(
            url=url, username=str(raw["username"]), address=str(raw.get("address") or ""),
            calendar=bool(raw.get("calendar", True)), contacts=bool(raw.get("contacts", True)),
            sync_tokens=bool(raw.get("sync_tokens", True)),
            window_days=(int(window[0]), int(window[1])),
            page_size=max(1, min(int(raw.get("batch_size") or 100), 500)),
        )
