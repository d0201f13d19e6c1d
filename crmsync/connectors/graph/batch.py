"""JSON batching: up to 20 requests in one ``POST /$batch``.

https://learn.microsoft.com/graph/json-batching

Each item of a batch answers on its own, and a 200 batch can hold throttled (429)
or failed (5xx) items: those are retried one by one through the client, which
honours their ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from crmsync.connectors.graph.client import RETRY_STATUSES, GraphClient, checked_json

MAX_BATCH = 20


def batch_get(client: GraphClient, paths: list[str]) -> list[dict[str, Any] | None]:
    """GET every path (relative to ``/v1.0``); returns each body, or None where it failed.

    :raises AuthError, TransientError: as :meth:`GraphClient.request`.
    """
    results: list[dict[str, Any] | None] = []
    for start in range(0, len(paths), MAX_BATCH):
        results.extend(_one_batch(client, paths[start:start + MAX_BATCH]))
    return results


def _one_batch(client: GraphClient, paths: list[str]) -> list[dict[str, Any] | None]:
    if len(paths) == 1:
        return [_single(client, paths[0])]
    payload = {"requests": [{"id": str(n), "method": "GET", "url": path}
                            for n, path in enumerate(paths)]}
    body = checked_json(client.request("POST", "/$batch", json=payload))
    answers = {str(item.get("id")): item for item in body.get("responses", [])}
    results: list[dict[str, Any] | None] = []
    for n, path in enumerate(paths):
        answer = answers.get(str(n), {})
        status = int(answer.get("status", 0))
        if status == 200:
            results.append(answer.get("body") or {})
        elif status in RETRY_STATUSES or status >= 500 or status == 0:
            results.append(_single(client, path))  # throttled inside the batch: retry alone
        else:
            results.append(None)
    return results


def _single(client: GraphClient, path: str) -> dict[str, Any] | None:
    response = client.request("GET", path)
    return checked_json(response) if response.status_code < 400 else None
