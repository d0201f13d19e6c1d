"""What one Graph mailbox connection needs to know, validated once.

Resource names (the engine keeps one cursor per resource):

- ``mail:<folder>``: the messages delta of one mail folder. ``<folder>`` is a
  well-known name (``inbox``, ``sentitems``, ...) or a display name an admin added;
- ``calendar``: ``calendarView/delta`` over the rolling window;
- ``contacts``: the default contacts folder's delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from crmsync.connectors.https import https_host
from crmsync.errors import ConfigError

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_GRAPH = "https://graph.microsoft.com"
DEFAULT_FOLDERS = ("inbox", "sentitems")
#: Graph's well-known folder names: addressable without looking the folder up
WELL_KNOWN_FOLDERS = frozenset({
    "inbox", "sentitems", "drafts", "deleteditems", "archive", "junkemail", "outbox",
})
#: Prefer: odata.maxpagesize is honoured up to this for messages
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class GraphSettings:
    """Settings of one Graph mailbox (app-only, client credentials).

    :param credential: ``secret`` or ``certificate`` (the stored secret is then a PEM
        holding the private key and the certificate), or ``delegated``: a single user
        signed in with the device code flow, the stored secret being msal's token cache.
    :param window_days: the calendar window, days before and after today.
    :param max_wait: the longest ``Retry-After`` honoured in place (seconds); a longer
        one ends the run with :class:`~crmsync.errors.TransientError`.
    """

    tenant: str
    client_id: str
    address: str
    authority_url: str = DEFAULT_AUTHORITY
    graph_url: str = DEFAULT_GRAPH
    credential: str = "secret"
    folders: tuple[str, ...] = DEFAULT_FOLDERS
    calendar: bool = True
    contacts: bool = True
    window_days: tuple[int, int] = (30, 365)
    page_size: int = 500
    since: date | None = None
    max_wait: float = 60.0
    max_retries: int = 8

    @property
    def delegated(self) -> bool:
        return self.credential == "delegated"

    @property
    def authority(self) -> str:
        return f"{self.authority_url.rstrip('/')}/{self.tenant}"

    @property
    def api(self) -> str:
        return f"{self.graph_url.rstrip('/')}/v1.0"

    @property
    def scope(self) -> str:
        return f"{self.graph_url.rstrip('/')}/.default"

    def resources(self) -> list[str]:
        names = [f"mail:{folder}" for folder in self.folders]
        return names + ["calendar"] * self.calendar + ["contacts"] * self.contacts

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> GraphSettings:
        """Validate stored settings.

        :raises ConfigError: a required key is missing or a value is malformed (a
            sign-in or API URL that is not https: :data:`~crmsync.connectors.network.REFUSED`).
        """
        missing = [key for key in ("tenant", "client_id", "address") if not raw.get(key)]
        if missing:
            problems = [f"missing {key}" for key in missing]
            raise ConfigError("graph mailbox settings incomplete", problems)
        for key in ("authority_url", "graph_url"):
            if raw.get(key):  # the same refusal as any host crmsync may not reach
                https_host(str(raw[key]))
        if raw.get("credential") not in (None, "", "secret", "certificate", "delegated"):
            raise ConfigError("credential must be secret, certificate or delegated",
                              [str(raw["credential"])])
        folders = tuple(raw.get("folders") or DEFAULT_FOLDERS)
        window = raw.get("window_days") or (30, 365)
        since = raw.get("since")
        return cls(
            tenant=str(raw["tenant"]), client_id=str(raw["client_id"]),
            address=str(raw["address"]).lower(),
            authority_url=str(raw.get("authority_url") or DEFAULT_AUTHORITY),
            graph_url=str(raw.get("graph_url") or DEFAULT_GRAPH),
            credential=str(raw.get("credential") or "secret"),
            folders=folders, calendar=bool(raw.get("calendar", True)),
            contacts=bool(raw.get("contacts", True)),
            window_days=(int(window[0]), int(window[1])),
            page_size=max(1, min(int(raw.get("batch_size") or 500), MAX_PAGE_SIZE)),
            since=date.fromisoformat(since) if since else None,
            max_wait=float(raw.get("max_wait", 60.0)),
            max_retries=int(raw.get("max_retries", 8)),
        )
