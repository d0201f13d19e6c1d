"""Fewer garbage collections while a backfill runs.

Storing a page allocates hundreds of thousands of small objects (rows, decisions,
records), and CPython starts a young-generation collection every 700 allocations, each
also walking what survived earlier ones: a tenth of a backfill's main-thread time went
to collections that found almost nothing, since the page's objects are freed by
reference counting when the page is done. A higher first threshold lets them die young
without being scanned; cycles are still collected, just in larger steps.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: allocations between young collections while a backfill runs (CPython's default: 700)
BACKFILL_THRESHOLDS = (20_000, 50, 1000)


_lock = threading.Lock()
_active = 0
_saved: tuple[int, ...] = ()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's thresholds for the block, then restore the previous ones.

    The thresholds are process-wide: with several blocks at once (backfills of two
    mailboxes in one ``crmsync serve``), the first one in raises them and the last one
    out restores them.
    """
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*BACKFILL_THRESHOLDS)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.set_threshold(*_saved)
