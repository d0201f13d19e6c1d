"""Run a connector's ``fetch_changes`` in a child process, so a backfill uses both cores.

A first sync is bound by Python CPU (bench/README.md): reading FETCH answers and
parsing headers and bodies on one side, matching and storing on the other. A thread
(:mod:`.prefetch`) overlaps only the waits, because both halves share one interpreter
lock; a process runs them at once. The parent keeps everything that touches the
database, so exactly-once is unchanged: pages still arrive in order and the engine
commits each with its cursor, and a page the child fetched but the parent never
committed is fetched again on the next run.

The child is ``python -m crmsync.sync_service.engine.fetch_process FD``. It reads one
:class:`FetchJob` (with the decrypted credential) from its stdin — never from its
command line or environment, which other local users can read — builds the connector
from the mailbox's stored settings, and writes pickled frames to the pipe ``FD``: one
``("page", Page)`` per page, then ``("done", None)``, or ``("error", exception)``. Its
stdout goes nowhere, so nothing a library prints can get between two frames.
With each page it sends the :class:`~crmsync.mapping.facts.MailFacts` of its mail
(ids, subject, date, thread keys: pure parsing the parent's decision would otherwise do
on its own core). It imports the connector and the pure mapping, nothing of the CRM (no
SQLAlchemy), so it starts in about a tenth of a second.

Back-pressure comes from the pipe: the child blocks writing page N+1 until the parent
reads it, so it runs at most about one page ahead, as the thread did. The pipe is
widened to hold about a page, and a frame is pickled before it is written, so the
parent's read is a copy, not a wait on the child's pickling.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from crmsync.connectors.base import MailMessage, Page
from crmsync.errors import CrmSyncError, TransientError
from crmsync.mapping.facts import FactsKey, MailFacts, facts_key, mail_facts
from crmsync.sync_service.engine.gc_tuning import BACKFILL_THRESHOLDS
from crmsync.sync_service.mailboxes.connector_spec import ConnectorSpec

log = logging.getLogger(__name__)

#: a page and the facts of its mail, as the child sends them
FactedPage = tuple[Page, dict[FactsKey, MailFacts]]

#: how long the parent waits for a child to exit after closing its pipes
_EXIT_SECONDS = 5.0
#: the pipe's size asked for: a page of 500 mails pickles to about 1 MB
PIPE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FetchJob:
    """What the child needs to run ``fetch_changes(resource, cursor)`` by itself.

    :param spec: how to build the connector (its secret included).
    """

    spec: ConnectorSpec
    resource: str
    cursor: str | None

    def __repr__(self) -> str:  # never print the credential
        return f"FetchJob({self.spec.provider!r}, resource={self.resource!r})"


class ChildPages:
    """Iterate the pages of a :class:`FetchJob` fetched by a child process.

    Use as a context manager: leaving it, also early or on an error, closes the pipes
    and ends the child. An error of the child's connector is raised again here, as the
    same class (an :class:`~crmsync.errors.AuthError` stays one); a child that dies
    without a word is a :class:`~crmsync.errors.TransientError`, retried on the next run.
    """

    def __init__(self, job: FetchJob) -> None:
        self._job = job
        self._process: subprocess.Popen[bytes] | None = None
        self._frames: IO[bytes] | None = None

    def __enter__(self) -> Iterator[FactedPage]:
        read_end, write_end = os.pipe()
        _widen(write_end)
        try:
            self._process = subprocess.Popen(
                child_command(write_end), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                pass_fds=(write_end,),
            )
        except OSError as exc:
            os.close(read_end)
            raise TransientError(f"the fetch process did not start: {exc}") from exc
        finally:
            os.close(write_end)
        self._frames = os.fdopen(read_end, "rb")
        assert self._process.stdin is not None
        try:
            pickle.dump(self._job, self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.close()
        except OSError as exc:
            self.__exit__(None, None, None)
            raise TransientError(f"the fetch process did not start: {exc}") from exc
        return self._pages(self._frames)

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if self._frames is not None:
            self._frames.close()  # a child still writing gets EPIPE and ends
            self._frames = None
        try:
            process.wait(_EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _pages(self, stream: IO[bytes]) -> Iterator[FactedPage]:
        while True:
            try:
                kind, value = pickle.load(stream)
            except (EOFError, pickle.UnpicklingError, OSError) as exc:
                raise TransientError(
                    f"the fetch process for {self._job.resource!r} ended unexpectedly "
                    f"({type(exc).__name__}); the sync resumes from the last stored page"
                ) from exc
            if kind == "page":
                yield value
            elif kind == "error":
                raise value
            else:
                return


# -- the child ----------------------------------------------------------------------------


def _run_child(job: FetchJob, out: IO[bytes]) -> None:
    """Fetch ``job``'s pages and write them to ``out`` (see module docstring)."""
    try:
        with job.spec.build() as connector:
            for page in connector.fetch_changes(job.resource, job.cursor):
                _write(out, ("page", (page, page_facts(page))))
    except BrokenPipeError:
        return  # the parent stopped reading: it has what it wants
    except Exception as exc:  # handed to the parent, which raises it
        if not isinstance(exc, CrmSyncError):  # a bug: its traceback stays only here
            log.warning("fetch of %r failed", job.resource, exc_info=True)
        _write(out, ("error", _portable(exc)))
        return
    _write(out, ("done", None))


def page_facts(page: Page) -> dict[FactsKey, MailFacts]:
    """Return the :class:`MailFacts` of the page's mail, computed here for the parent."""
    return {facts_key(change): mail_facts(change)
            for change in page.changes if isinstance(change, MailMessage)}


def _write(out: IO[bytes], frame: tuple[str, object]) -> None:
    # Pickled whole before the first byte goes out: pickling into the pipe would make
    # the parent, reading the frame, wait for the pickling too.
    out.write(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
    out.flush()


def _portable(exc: Exception) -> Exception:
    """Return ``exc`` if it survives pickling, else a TransientError that describes it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure means: describe it instead
        return TransientError(f"fetch process: {type(exc).__name__}: {exc}")
    return exc


def _widen(fd: int) -> None:
    """Let the pipe hold a whole page, so the child rarely waits for the parent to read.

    Linux only (``F_SETPIPE_SZ``, up to ``/proc/sys/fs/pipe-max-size``); elsewhere, or
    when refused, the pipe keeps its default size and the child simply waits more.
    """
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


def child_command(frames_fd: int) -> list[str]:
    """Return the child's command line: this module, and the descriptor to write to."""
    return [sys.executable, "-m", __name__, str(frames_fd)]


def _child_main() -> None:
    logging.basicConfig(level=logging.WARNING, format="crmsync fetch: %(message)s")
    gc.set_threshold(*BACKFILL_THRESHOLDS)  # this process only ever backfills
    out = os.fdopen(int(sys.argv[1]), "wb")
    job = pickle.load(sys.stdin.buffer)
    try:
        _run_child(job, out)
    finally:
        try:
            out.close()
        except BrokenPipeError:
            pass


if __name__ == "__main__":
    _child_main()
