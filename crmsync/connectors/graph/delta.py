"""Follow a Graph delta round: ``@odata.nextLink`` pages, then the ``@odata.deltaLink``.

https://learn.microsoft.com/graph/delta-query-overview

The cursor after each page is the link to the next one (the last page's is the delta
link), so the engine stores exactly where to resume. A rejected token (410 Gone,
``syncStateNotFound``, ``resyncRequired``) starts a new full round whose first page is
marked ``resync``: the engine re-matches those items by their content keys, so the
round creates no duplicates, and mail that arrives meanwhile is in it or in the next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from crmsync.connectors.graph.client import GraphClient, SyncStateGoneError
from crmsync.errors import TransientError

log = logging.getLogger(__name__)
#: a fresh round rejected this often in a row is the service's problem, not ours
MAX_RESTARTS = 3


@dataclass(frozen=True)
class DeltaPage:
    """One answered page: its items, the link to resume from, and whether it restarted."""

    items: list[dict[str, Any]]
    link: str
    resync: bool
    is_last: bool


def delta_rounds(client: GraphClient, cursor: str | None, start: Callable[[], str],
                 prefer: tuple[str, ...]) -> Iterator[DeltaPage]:
    """Yield the pages from ``cursor`` (or a fresh round from ``start()``) to the delta link.

    :param start: builds the first URL of a full round (it may look a folder up, so it
        is called only when a full round is needed).
    :raises TransientError: fresh rounds keep being rejected.
    """
    url = cursor or start()
    resync = False
    restarts = 0
    while True:
        try:
            body = client.get_json(url, prefer)
        except SyncStateGoneError as exc:
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise TransientError(f"delta round keeps being rejected: {exc}") from exc
            log.warning("delta token rejected (%s); starting a full round", exc)
            url, resync = start(), True
            continue
        next_link = body.get("@odata.nextLink")
        link = next_link or body.get("@odata.deltaLink")
        if not link:
            raise TransientError("Graph answered a delta page without a next or delta link")
        yield DeltaPage(list(body.get("value", [])), link, resync, next_link is None)
        if next_link is None:
            return
        url, resync = next_link, False


def is_removed(item: dict[str, Any]) -> bool:
    """Whether a delta item is a tombstone (deleted, or moved out of the collection)."""
    return "@removed" in item
