"""Change-notification subscriptions: create, renew, delete.

https://learn.microsoft.com/graph/api/subscription-post-subscriptions
https://learn.microsoft.com/graph/change-notifications-lifecycle-events

Outlook resources (messages, events, contacts) expire after at most 4,230 minutes
(just under 3 days); the caller renews them before that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from crmsync.connectors.base import Subscription
from crmsync.connectors.graph.client import GraphClient, GraphError, checked_json
from crmsync.connectors.graph.times import parse_utc

#: Microsoft's maximum for Outlook resources, less a margin for clock skew
MAX_LIFETIME = timedelta(minutes=4230) - timedelta(minutes=30)


def resource_paths(address: str, folders: tuple[str, ...], calendar: bool) -> list[str]:
    """The Graph resources one mailbox subscribes to: each mail folder, and its events."""
    paths = [f"/users/{address}/mailFolders('{folder}')/messages" for folder in folders]
    return paths + [f"/users/{address}/events"] * calendar


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def create_subscription(client: GraphClient, resource: str, notification_url: str,
                        client_state: str, now: datetime) -> Subscription:
    """Subscribe to ``created,updated,deleted`` on ``resource``.

    Graph validates ``notification_url`` first (it must echo ``validationToken``).

    :raises GraphError: Graph refused (validation failed, resource unknown, ...).
    """
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": notification_url,
        "lifecycleNotificationUrl": notification_url,
        "resource": resource,
        "expirationDateTime": _stamp(now + MAX_LIFETIME),
        "clientState": client_state,
        "latestSupportedTlsVersion": "v1_2",
    }
    answer = checked_json(client.request("POST", "/subscriptions", json=body))
    return Subscription(str(answer["id"]), resource, parse_utc(answer["expirationDateTime"]))


def renew_subscription(client: GraphClient, subscription_id: str, now: datetime) -> datetime:
    """Push the expiry out again; also answers a ``reauthorizationRequired`` event.

    :raises GraphError: 404 when the subscription is gone (create a new one).
    """
    body = {"expirationDateTime": _stamp(now + MAX_LIFETIME)}
    answer = checked_json(client.request("PATCH", f"/subscriptions/{subscription_id}", json=body))
    return parse_utc(answer["expirationDateTime"])


def delete_subscription(client: GraphClient, subscription_id: str) -> None:
    """Remove a subscription; one that is already gone is fine."""
    response = client.request("DELETE", f"/subscriptions/{subscription_id}")
    if response.status_code not in (204, 404):
        try:
            checked_json(response)
        except GraphError as exc:
            if exc.status != 404:
                raise
