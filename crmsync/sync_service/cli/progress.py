"""A live progress line for long CLI work (imports, initial syncs), on a terminal only.

A first backfill of a busy mailbox takes minutes; an admin watching a silent prompt
cannot tell progress from a hang. The line goes to stderr and only when stderr is a
terminal, so scripts, pipes and CI logs see just the final report, as docs/cli.md
promises.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sqlalchemy.orm import Session

from crmsync.crm.models import Mailbox
from crmsync.sync_service.engine.store import PageWriter

#: counters that mean "one mail (or card, or event) was looked at"
_ITEM_COUNTERS = frozenset({
    "captured", "merged", "quarantined", "contacts_seen",
    "meetings_captured", "meetings_merged", "meetings_cancelled",
})
#: seconds between redraws, so a fast import is not slowed by the terminal
_REDRAW_SECONDS = 0.2


class ProgressLine:
    """A page hook that redraws ``NAME: N items (R/s)`` on one terminal line.

    Used as the last of the engine's page hooks; it reads the page's counters and
    writes nothing to the database.
    """

    def __init__(self, stream: TextIO, clock=time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.items = 0
        self.label = ""
        self._drawn_at = 0.0
        self._width = 0

    def __call__(self, session: Session, mailbox: Mailbox | None, writer: PageWriter) -> None:
        self.label = mailbox.name if mailbox is not None else "import"
        self.items += sum(
            count for name, count in writer.counters.items()
            if name in _ITEM_COUNTERS or name.startswith("skipped")
        )
        now = self.clock()
        if now - self._drawn_at >= _REDRAW_SECONDS:
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-6)
        text = f"{self.label}: {self.items:,} items ({self.items / elapsed:,.0f}/s)"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)
        self._drawn_at = now

    def finish(self) -> None:
        """Clear the line so the one-line report that follows stands alone."""
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self.items, self._width, self._drawn_at = 0, 0, 0.0
        self.started = self.clock()


def progress_for_terminal(stream: TextIO | None = None) -> ProgressLine | None:
    """Return a progress line when ``stream`` (default stderr) is a terminal, else None."""
    stream = stream or sys.stderr
    return ProgressLine(stream) if stream.isatty() else None
