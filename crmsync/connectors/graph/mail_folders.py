"""Find a mail folder's id by its display name with ``mailFolders/delta``.

https://learn.microsoft.com/graph/api/mailfolder-delta

Well-known folders (``inbox``, ``sentitems``) need no lookup: Graph accepts their
names in place of ids. A folder an admin added by name is looked up once, when its
first round starts; after that the delta link carries its id.
"""

from __future__ import annotations

from crmsync.connectors.graph.client import GraphClient
from crmsync.connectors.graph.settings import WELL_KNOWN_FOLDERS
from crmsync.errors import ConfigError


def folder_ref(client: GraphClient, address: str, folder: str) -> str:
    """Return what goes in ``mailFolders/{ref}``: the well-known name or the folder id.

    :raises ConfigError: no folder has that display name.
    """
    if folder.lower() in WELL_KNOWN_FOLDERS:
        return folder.lower()
    url: str | None = f"/users/{address}/mailFolders/delta?$select=displayName,parentFolderId"
    names = []
    while url:
        body = client.get_json(url)
        for entry in body.get("value", []):
            names.append(entry.get("displayName", ""))
            if str(entry.get("displayName", "")).casefold() == folder.casefold():
                return str(entry["id"])
        url = body.get("@odata.nextLink")
    raise ConfigError(f"{address} has no mail folder named {folder!r}",
                      [f"folders: {', '.join(sorted(n for n in names if n))}"])
