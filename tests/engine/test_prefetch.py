"""Prefetch: pages come in order one ahead, errors reach the engine, the worker always stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from crmsync.sync_service.engine.prefetch import Prefetch


class Source:
    """A page generator that records which thread ran it and whether it was closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.produced: list[int] = []
        self.threads: set[str] = set()
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[int]:
        try:
            for n in range(self.count):
                self.threads.add(threading.current_thread().name)
                if n == self.fail_at:
                    raise ConnectionError(f"lost at page {n}")
                self.produced.append(n)
                yield n
        finally:
            self.closed.set()


def test_pages_in_order_from_another_thread() -> None:
    source = Source(50)
    with Prefetch(iter(source)) as pages:
        assert list(pages) == list(range(50))
    assert source.threads == {"crmsync-prefetch"} and source.closed.is_set()


def test_source_error_is_raised_where_the_engine_reads() -> None:
    source = Source(10, fail_at=3)
    seen: list[int] = []
    with pytest.raises(ConnectionError, match="lost at page 3"), Prefetch(iter(source)) as pages:
        seen.extend(pages)
    assert seen == [0, 1, 2]


def test_engine_error_stops_the_worker_at_most_one_page_ahead() -> None:
    # A failing store stops fetching: the connector is not used after the engine left.
    source = Source(1000)
    with pytest.raises(RuntimeError), Prefetch(iter(source)) as pages:
        for page in pages:
            if page == 5:
                raise RuntimeError("store failed")
    assert source.closed.is_set()
    assert len(source.produced) <= 5 + 3  # the page in hand, one queued, one being made
    assert not any(t.name == "crmsync-prefetch" for t in threading.enumerate())
