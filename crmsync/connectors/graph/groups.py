"""The members of a mail-enabled group: one app registration, many mailboxes.

https://learn.microsoft.com/graph/api/group-list-members
https://learn.microsoft.com/graph/api/group-list (``$filter=mail eq '...'``)

Only users with a mailbox (``mail`` set) are returned; nested groups, contacts and
devices are not mailboxes and are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from crmsync.connectors.graph.client import GraphClient
from crmsync.errors import ConfigError

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class GroupMember:
    """A user of the group who has a mailbox."""

    address: str
    display_name: str


def resolve_group(client: GraphClient, group: str) -> str:
    """Return the group's object id; ``group`` is the id itself or the group's address.

    :raises ConfigError: no group has that address.
    """
    if _GUID.match(group):
        return group
    literal = group.lower().replace("'", "''")  # OData string literal
    expression = quote(f"mail eq '{literal}'")
    body = client.get_json(f"/groups?$filter={expression}&$select=id,mail,displayName")
    found = body.get("value") or []
    if not found:
        raise ConfigError(f"no mail-enabled group with the address {group}")
    return str(found[0]["id"])


def group_members(client: GraphClient, group: str) -> list[GroupMember]:
    """List the users (with a mailbox) of ``group``, following ``@odata.nextLink``."""
    path: str | None = (f"/groups/{resolve_group(client, group)}/members"
                        "?$select=id,mail,displayName,userPrincipalName&$top=999")
    members: list[GroupMember] = []
    while path:
        body = client.get_json(path)
        for item in body.get("value", []):
            kind = str(item.get("@odata.type", "")).lower()
            if kind == "#microsoft.graph.user" and item.get("mail"):
                members.append(GroupMember(str(item["mail"]).lower(),
                                           str(item.get("displayName") or "")))
        path = body.get("@odata.nextLink")
    return members
