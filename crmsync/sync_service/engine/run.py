"""The sync unit of work: one mailbox (or one set of files), connector → mapping → store.

Each page of changes is written in its own transaction together with the
cursor that follows it, so a crash anywhere resumes with nothing lost and
nothing doubled (the mbsync rule: the watermark never points past stored rows).
That transaction also checks the run's lease token and renews the lease
(mailboxes/leases.py): a run another worker took over commits nothing more, and
leaves the mailbox's status to the new holder.
An item the database refuses is quarantined, not the page (engine/isolate.py).

A run may be given a budget (``SYNC_RUN_SECONDS``, passed by the workers and serve's
scheduler): once it is spent, the run stops at the next page boundary, its cursor
already committed with that page, and reports ``catching_up``. The caller then queues
the mailbox again behind the others, so a 100,000-message backfill goes on window by
window and never holds a worker while other mailboxes' new mail waits.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crmsync.connectors.base import Connector, Page
from crmsync.connectors.files import FileConnector
from crmsync.crm.checkpoints import Checkpointer, background_checkpoints
from crmsync.crm.db import session_scope
from crmsync.crm.directory import load_directory
from crmsync.crm.models import Mailbox, SyncRun, SyncState
from crmsync.crm.rules import load_capture_rules
from crmsync.errors import AuthError, CrmSyncError, TransientError
from crmsync.mapping import DEFAULT_POLICY, SUPPORT_POLICY, CapturePolicy, Directory
from crmsync.sync_service.context import Services
from crmsync.sync_service.engine.calendar_writeback import write_back
from crmsync.sync_service.engine.fetch_process import ChildPages, FactedPage, FetchJob
from crmsync.sync_service.engine.gc_tuning import fewer_collections
from crmsync.sync_service.engine.isolate import store_page
from crmsync.sync_service.engine.page import Origin, WriteOptions
from crmsync.sync_service.engine.prefetch import Prefetch
from crmsync.sync_service.engine.publish_contacts import publish_contacts
from crmsync.sync_service.engine.store import PageWriter
from crmsync.sync_service.mailboxes.connecting import connector_spec, reseal_secret
from crmsync.sync_service.mailboxes.connector_spec import ConnectorSpec
from crmsync.sync_service.mailboxes.credentials import SecretUnreadableError
from crmsync.sync_service.mailboxes.leases import (
    Lease,
    LeaseLostError,
    claim_lease,
    keep_lease,
    release_lease,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
#: the counters that are items stored (a run's "items" in its history)
STORED_COUNTERS = frozenset({"captured", "merged", "meetings_captured", "meetings_merged"})
#: how many runs of each mailbox the history keeps
RUNS_KEPT = 50
#: a run that spent its budget before it caught up: the caller queues the mailbox again
CATCHING_UP = "catching_up"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SyncReport:
    """What one run did, for the CLI and the admin console."""

    name: str
    status: str = "ok"
    error: str | None = None
    counters: Counter[str] = field(default_factory=Counter)
    #: seconds the service asked us to stay away (throttling), when it said so
    retry_after: float | None = None


def policy_for(mailbox: Mailbox) -> CapturePolicy:
    """Support mailboxes capture every external mail; others only what the CRM knows."""
    return SUPPORT_POLICY if mailbox.purpose == "support" else DEFAULT_POLICY


def mailbox_origin(mailbox: Mailbox) -> Origin:
    return Origin(key=f"mailbox:{mailbox.id}", mailbox_id=mailbox.id)


@dataclass
class _Run:
    """One run's report, its clock and when its budget is spent (``time.monotonic``)."""

    report: SyncReport
    clock: Clock
    deadline: float | None = None

    def is_spent(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


def sync_mailbox(services: Services, name: str, clock: Clock = utcnow, *,
                 budget: float | None = None) -> SyncReport:
    """Sync every resource of the mailbox ``name`` until caught up.

    :param budget: seconds after which the run stops at the next page boundary with
        status :data:`CATCHING_UP` (its pages so far committed); ``None`` or ``0``:
        until caught up, as ``crmsync sync --once`` does.
    """
    report = SyncReport(name=name)
    with session_scope(services.sessions) as session:
        mailbox = session.scalars(select(Mailbox).where(Mailbox.name == name)).one()
        mailbox_id = mailbox.id
        if mailbox.removed_at is not None or mailbox.paused_at is not None:
            report.status = "paused"
            return report
    started = clock()
    lease = claim_lease(services, mailbox_id, started)
    if lease is None:
        report.status, report.error = "busy", "another worker is syncing this mailbox"
        return report
    run = _Run(report, clock, time.monotonic() + budget if budget else None)
    try:
        spec = connector_spec(services, mailbox)
        with spec.build() as connector:
            try:
                for resource in connector.list_resources():
                    if not _sync_resource(services, (spec, connector), (mailbox, lease),
                                          resource, run):
                        report.status = CATCHING_UP
                        break
                else:  # caught up: the calendar's changes are known, write the CRM's
                    report.counters.update(
                        write_back(services, mailbox_id, connector, lease, clock))
                    # and the owner's CRM contacts to their CRM folder
                    report.counters.update(publish_contacts(services, mailbox_id, connector,
                                                            clock()))
                _note_quarantined(report)
            finally:
                reseal_secret(services, mailbox_id, mailbox.name, connector)
    except LeaseLostError as exc:
        # A newer claim exists: this run was paused or too slow. Its page was rolled
        # back; the new holder's cursor and status stand.
        report.status, report.error = "lease_lost", str(exc)
        log.warning("%s: %s; its last page was not stored", name, exc)
    except AuthError as exc:
        report.status, report.error = "needs_reauth", str(exc)
    except SecretUnreadableError as exc:
        report.status, report.error = "error", str(exc)
    except TransientError as exc:
        report.status, report.error = "retrying", str(exc)
        report.retry_after = exc.retry_after
    except CrmSyncError as exc:
        report.status, report.error = "error", str(exc)
    except Exception as exc:
        # A bug, not a mail system's answer: the caller logs the traceback; the admin
        # console must not show the mailbox as synced meanwhile.
        report.status = "error"
        report.error = f"unexpected error ({type(exc).__name__}); the service log has details"
        raise
    finally:
        try:
            _record_outcome(services, lease, report, (started, clock()))
        finally:  # a database gone mid-run fails the record; the lease is freed anyway
            release_lease(services, lease)
    return report


def _note_quarantined(report: SyncReport) -> None:
    """Say in the run's error that it quarantined items: the run completed ("ok", its
    cursor past them), but a mailbox that set mail aside must not look clean in
    ``mailbox list`` and on the console."""
    count = report.counters["quarantined"]
    if count:
        report.error = (f"{count} item{'s' if count > 1 else ''} quarantined: "
                        "`crmsync quarantine list` says why")


def _sync_resource(
    services: Services, connection: tuple[ConnectorSpec, Connector],
    held: tuple[Mailbox, Lease], resource: str, run: _Run,
) -> bool:
    """Store the resource's pages, each with its cursor; return whether it caught up
    (``False``: the run's budget ran out after a committed page)."""
    mailbox, lease = held
    report, clock = run.report, run.clock
    with session_scope(services.sessions) as session:
        cursor = _state(session, mailbox.id, resource).cursor
    origin = mailbox_origin(mailbox)
    # Loaded on the first page that carries changes: a poll that finds nothing new
    # (one SELECT on the wire for IMAP) never pays for the CRM snapshot.
    matching: tuple[Directory, CapturePolicy] | None = None
    source = _page_source(services, connection, resource, cursor)
    with source as pages, _backfill_aids(services, isinstance(source, ChildPages)) as aids:
        for page, facts in pages:
            with session_scope(services.sessions) as session:
                if page.changes and matching is None:
                    matching = matching_for(services, session, mailbox)
                directory, policy = matching or (_NOTHING_TO_MATCH, policy_for(mailbox))
                options = WriteOptions(now=clock(), policy=policy)
                counters = store_page(
                    session, page,
                    partial(PageWriter, session, origin, directory, options, facts),
                    partial(run_page_hooks, services, session, mailbox),
                )
                state = _state(session, mailbox.id, resource)
                state.cursor = page.cursor
                state.phase = "resync" if page.resync else "poll"
                state.counters = dict(Counter(state.counters or {}) + counters)
                state.last_success_at = clock()
                state.last_error = None
                # last, after the writes: the row lock it takes lasts only to the commit
                keep_lease(session, lease, clock())
            if aids is not None:
                aids.committed()
            report.counters.update(counters)
            if page.resync:
                log.warning("%s/%s: cursor rejected, resynchronizing", mailbox.name, resource)
            if run.is_spent():
                # Leaving closes the source (a fetch child ends, a prefetch thread stops):
                # what it fetched past this page is fetched again by the next run.
                log.info("%s/%s: run budget spent; the rest follows in the next run",
                         mailbox.name, resource)
                return False
    return True


@contextmanager
def _backfill_aids(services: Services, bulk: bool) -> Iterator[Checkpointer | None]:
    """For a backfill (page after page committed): fewer garbage collections, and the
    database's log copied back beside the writer; yields what to tell of each commit."""
    if not bulk:
        yield None
        return
    with fewer_collections(), background_checkpoints(services.engine) as checkpointer:
        yield checkpointer


def run_page_hooks(
    services: Services, session: Session, mailbox: Mailbox | None, writer: PageWriter
) -> None:
    """Run the services' page hooks (support intake, invitations) on what ``writer`` stored."""
    for hook in services.page_hooks:
        hook(session, mailbox, writer)


#: what a page without changes is "matched" against: nothing is looked up in it
_NOTHING_TO_MATCH = Directory(frozenset(), {}, {}, {})


def matching_for(
    services: Services, session: Session, mailbox: Mailbox
) -> tuple[Directory, CapturePolicy]:
    """Return the CRM snapshot and the capture policy the mailbox's mail is matched with."""
    directory = load_directory(session, services.internal_domains(session))
    policy = policy_for(mailbox).with_rules(load_capture_rules(session, mailbox.owner_id))
    return directory, policy


def _page_source(
    services: Services, connection: tuple[ConnectorSpec, Connector], resource: str,
    cursor: str | None,
) -> AbstractContextManager[Iterator[FactedPage]]:
    """Return the resource's pages: fetched by a child process for a large backfill,
    else one page ahead in a thread when the connector allows it, else in line.

    Each page comes with the facts of its mail when the child computed them (else an
    empty mapping: the writer computes them).

    A child costs about 0.15 s to start and a second login, so polls and small first
    syncs stay in this process (``FETCH_PROCESS_MIN_MESSAGES``; 0 turns children off).
    """
    spec, connector = connection
    minimum = services.config["FETCH_PROCESS_MIN_MESSAGES"]
    if minimum and connector.fetch_in_process \
            and connector.backfill_size(resource, cursor) >= minimum:
        # A credential this run renewed (an OAuth refresh) goes to the child, which then
        # has no refresh of its own to make: a rotated refresh token may work only once.
        renewed = connector.updated_secret()
        child = replace(spec, secret=renewed) if renewed else spec
        return ChildPages(FetchJob(child, resource, cursor))
    pages = _without_facts(connector.fetch_changes(resource, cursor))
    if connector.prefetch_pages:
        return Prefetch(pages)
    return closing(pages)


def _without_facts(pages: Iterator[Page]) -> Generator[FactedPage, None, None]:
    """Pages fetched here come without facts; closing this closes ``pages`` too."""
    try:
        for page in pages:
            yield page, {}
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _state(session: Session, mailbox_id: int, resource: str) -> SyncState:
    state = session.scalars(
        select(SyncState).where(SyncState.mailbox_id == mailbox_id, SyncState.resource == resource)
    ).one_or_none()
    if state is None:
        state = SyncState(mailbox_id=mailbox_id, resource=resource, counters={})
        session.add(state)
        session.flush()
    return state


def _record_outcome(services: Services, lease: Lease, report: SyncReport,
                    span: tuple[datetime, datetime]) -> None:
    """The mailbox's status and one row of its run history (the newest RUNS_KEPT).

    The status is the lease holder's to write: a run that lost its lease (here, or at
    its last page) only adds its history row.
    """
    started, finished = span
    mailbox_id = lease.mailbox_id
    with session_scope(services.sessions) as session:
        if report.status != "lease_lost":
            try:
                keep_lease(session, lease, finished)
            except LeaseLostError as exc:
                report.status, report.error = "lease_lost", str(exc)
                log.warning("%s: %s; its outcome was not recorded", report.name, exc)
        if report.status != "lease_lost":
            mailbox = session.get(Mailbox, mailbox_id)
            assert mailbox is not None
            mailbox.status = report.status
            mailbox.last_error = report.error
            if report.status == "ok":
                mailbox.last_sync_at = finished
        items = sum(v for k, v in report.counters.items() if k in STORED_COUNTERS)
        session.add(SyncRun(mailbox_id=mailbox_id, started_at=started, finished_at=finished,
                            status=report.status, items=items, error=report.error))
        session.flush()
        older = session.scalars(select(SyncRun.id).where(SyncRun.mailbox_id == mailbox_id)
                                .order_by(SyncRun.id.desc()).offset(RUNS_KEPT)).all()
        if older:
            session.execute(delete(SyncRun).where(SyncRun.id.in_(older)))


def import_files(services: Services, paths: list[Path], clock: Clock = utcnow) -> SyncReport:
    """Import .eml/.mbox files through the same pipeline as a mailbox."""
    report = SyncReport(name="files")
    with session_scope(services.sessions) as session:
        directory = load_directory(session, services.internal_domains(session))
        policy = load_capture_rules(session)
    connector = FileConnector(paths)
    for resource in connector.list_resources():
        origin = Origin(key=f"file:{Path(resource).name}")
        for page in connector.fetch_changes(resource, None):
            with session_scope(services.sessions) as session:
                options = WriteOptions(now=clock(), policy=policy)
                counters = store_page(
                    session, page, partial(PageWriter, session, origin, directory, options),
                    partial(run_page_hooks, services, session, None),
                )
            report.counters.update(counters)
    return report
