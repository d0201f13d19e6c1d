"""A backfill's collector thresholds are put back however backfills overlap."""

from __future__ import annotations

import gc
import threading

from crmsync.sync_service.engine.gc_tuning import BACKFILL_THRESHOLDS, fewer_collections


def test_thresholds_are_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == BACKFILL_THRESHOLDS
    assert gc.get_threshold() == before


def test_overlapping_backfills_in_threads_restore_the_original() -> None:
    # Two mailboxes backfilling in one `crmsync serve`: the first one to finish must not
    # put the default back under the other, nor the last one leave the raised value.
    before = gc.get_threshold()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[int, ...]] = []

    def first() -> None:
        with fewer_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with fewer_collections():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.get_threshold())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [BACKFILL_THRESHOLDS]
    assert gc.get_threshold() == before
