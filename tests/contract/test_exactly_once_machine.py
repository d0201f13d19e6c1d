"""Exactly once, checked by Hypothesis: the real engine on SQLite over the fake connector.

A state machine adds, copies, deletes and flags mail in an in-memory mailbox, lets the
mailbox lose its sync state, runs syncs, runs syncs that crash after some pages (in the
connector, as a dropped connection; or in a page hook, inside the page's transaction, as
a bug or a kill), and restarts the process's services. After every step:

* each Message-ID is stored as exactly one activity, and only mail that was sent is;
* every stored cursor names exactly the copies stored for its folder: never one that is
  not stored (the cursor is never ahead of the data), nor one stored but not in it;
* after a sync that succeeded, every message in the mailbox is stored with its flags,
  and no copy the mailbox no longer holds.
"""

from __future__ import annotations

import importlib
import itertools
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from crmsync.connectors import fake
from crmsync.connectors.fake import FakeCursor
from crmsync.crm.models import Activity, ActivitySource, Mailbox, SyncState
from crmsync.sync_service.engine.run import sync_mailbox
from tests.conftest import Cli, load_sample_crm
from tests.engine.mails import ANA, TOM, make_mail

FOLDERS = ("INBOX", "Customers")
MAILBOX = "fake-machine"
_boxes = itertools.count(1)


def build_services(config: dict[str, Any]) -> Any:
    """The process's services, wherever this tree builds them (``startup`` or ``context``)."""
    for module in ("crmsync.sync_service.startup", "crmsync.sync_service.context"):
        try:
            builder = importlib.import_module(module).build_services
        except (ImportError, AttributeError):
            continue
        return builder(config)
    raise ImportError("no build_services in crmsync.sync_service.startup or .context")


class SimulatedCrash(Exception):
    """Raised by a page hook: the process dies inside a page's transaction."""


class ExactlyOnce(RuleBasedStateMachine):
    def __init__(self, template: Path, directory: Path) -> None:
        super().__init__()
        number = next(_boxes)
        self.db = directory / f"machine-{number}.db"
        with closing(sqlite3.connect(template)) as source, \
                closing(sqlite3.connect(self.db)) as target:
            source.backup(target)
        self.url = f"sqlite:///{self.db}"
        self.box_name = f"machine-{number}"
        self.box = fake.mailbox(self.box_name, FOLDERS)
        self.services = build_services({"DATABASE_URL": self.url, "SECRET_KEY": "test-key"})
        self.numbers = itertools.count(1)
        #: every message ever delivered: raw → Message-ID
        self.sent: dict[bytes, str] = {}
        with self.services.sessions.begin() as session:
            row = Mailbox(name=MAILBOX, provider="fake", created_at=datetime.now(UTC),
                          settings={"mailbox": self.box_name, "batch_size": 3})
            session.add(row)
            session.flush()
            self.origin = f"mailbox:{row.id}"
            self.mailbox_id = row.id

    def teardown(self) -> None:
        self.services.dispose()
        fake.forget(self.box_name)
        self.db.unlink(missing_ok=True)

    # -- the mailbox changes -------------------------------------------------------------

    @initialize(count=st.integers(0, 8), batch_size=st.integers(1, 3), prefetch=st.booleans())
    def mailbox_with_mail(self, count: int, batch_size: int, prefetch: bool) -> None:
        # Small pages: a sync has several, so crashes land between them. With prefetch the
        # engine fetches one page ahead in a thread, as it does for IMAP.
        with self.services.sessions.begin() as session:
            row = session.get(Mailbox, self.mailbox_id)
            row.settings = {**row.settings, "batch_size": batch_size,
                            "prefetch_pages": prefetch}
        if count:
            self.add_mail("INBOX", count, sender=0)

    @rule(folder=st.sampled_from(FOLDERS), count=st.integers(1, 4), sender=st.integers(0, 1))
    def add_mail(self, folder: str, count: int, sender: int) -> None:
        for _ in range(count):
            number = next(self.numbers)
            raw = make_mail(number, sender=(ANA, TOM)[sender])
            self.sent[raw] = f"<m{number}@test.example>"
            self.box.append(raw, folder)

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def copy_to_the_other_folder(self, data: st.DataObject) -> None:
        # The same mail in two folders: one activity, one source per folder.
        folder = data.draw(st.sampled_from(FOLDERS))
        other = next(f for f in FOLDERS if f != folder)
        candidates = sorted(set(self.box.live(other).values()) - set(
            self.box.live(folder).values()))
        if candidates:
            self.box.append(data.draw(st.sampled_from(candidates)), folder)

    @precondition(lambda self: any(self.box.live(f) for f in FOLDERS))
    @rule(data=st.data())
    def delete_mail(self, data: st.DataObject) -> None:
        folder, item_id = data.draw(st.sampled_from(self._live_ids()))
        self.box.delete(item_id, folder)

    @precondition(lambda self: any(self.box.live(f) for f in FOLDERS))
    @rule(data=st.data(), flag=st.sampled_from(["\\Seen", "\\Flagged"]))
    def flag_mail(self, data: st.DataObject, flag: str) -> None:
        folder, item_id = data.draw(st.sampled_from(self._live_ids()))
        self.box.set_flags(item_id, sorted({*self.box.flags(item_id, folder), flag}), folder)

    @rule(folder=st.sampled_from(FOLDERS))
    def lose_sync_state(self, folder: str) -> None:
        # UIDVALIDITY changed / 410 Gone: every id is new; cursors resync the folder.
        self.box.expire_cursors(folder)

    # -- the engine ----------------------------------------------------------------------

    @rule()
    def sync(self) -> None:
        report = sync_mailbox(self.services, MAILBOX)
        assert report.status == "ok", report.error
        self._check_everything_stored()

    @rule(pages=st.integers(0, 4))
    def sync_that_loses_the_connection(self, pages: int) -> None:
        self.box.crash_after(pages)
        report = sync_mailbox(self.services, MAILBOX)
        if self.box.cancel_crash():  # it needed fewer pages: a sync like any other
            assert report.status == "ok", report.error
            self._check_everything_stored()
        else:
            assert report.status == "retrying", report.error

    @rule(pages=st.integers(0, 4))
    def sync_that_dies_inside_a_page(self, pages: int) -> None:
        # A page hook raises in the page's transaction: its rows and cursor roll back.
        seen = itertools.count()

        def die(session: Any, mailbox: Any, writer: Any) -> None:
            if next(seen) == pages:
                raise SimulatedCrash(f"after {pages} pages")

        hooks = self.services.page_hooks
        self.services.page_hooks = [*hooks, die]
        try:
            report = sync_mailbox(self.services, MAILBOX)
        except SimulatedCrash:
            pass
        else:  # it needed fewer pages: a sync like any other
            assert report.status == "ok", report.error
            self._check_everything_stored()
        finally:
            self.services.page_hooks = hooks

    @rule()
    def restart(self) -> None:
        # A new process: new services, new connection pool, the same database.
        self.services.dispose()
        self.services = build_services({"DATABASE_URL": self.url, "SECRET_KEY": "test-key"})

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def each_message_id_is_one_activity(self) -> None:
        with self.services.sessions() as session:
            rows = session.execute(
                select(Activity.internet_message_id, func.count())
                .group_by(Activity.internet_message_id)).all()
        assert all(count == 1 for _, count in rows), rows
        assert {mid for mid, _ in rows} <= set(self.sent.values())

    @invariant()
    def cursors_name_exactly_the_stored_copies(self) -> None:
        stored = self._stored()
        with self.services.sessions() as session:
            states = session.execute(
                select(SyncState.resource, SyncState.cursor)
                .where(SyncState.mailbox_id == self.mailbox_id)).all()
        cursors = {resource: cursor for resource, cursor in states if cursor is not None}
        for folder in FOLDERS:
            copies = {item for f, item in stored if f == folder}
            if folder not in cursors:
                assert not copies, f"{folder}: stored without a cursor"
                continue
            cursor = FakeCursor.loads(cursors[folder])
            claimed = {f"{cursor.epoch}:{uid}" for uid in cursor.uids}
            assert claimed <= copies, f"{folder}: cursor ahead of the data: {claimed - copies}"
            assert copies <= claimed, f"{folder}: stored but not in the cursor: {copies - claimed}"

    # -- helpers -------------------------------------------------------------------------

    def _live_ids(self) -> list[tuple[str, str]]:
        """(folder, item id) of every live message; an id is unique within its folder."""
        return [(folder, item) for folder in FOLDERS for item in sorted(self.box.live(folder))]

    def _stored(self) -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
        """(folder, item id) → (Message-ID, flags) of every copy stored for the mailbox."""
        with self.services.sessions() as session:
            rows = session.execute(
                select(ActivitySource.folder, ActivitySource.item_id,
                       Activity.internet_message_id, ActivitySource.flags)
                .join(Activity).where(ActivitySource.origin == self.origin)).all()
        stored = {(folder, item): (mid, tuple(sorted(flags or ())))
                  for folder, item, mid, flags in rows}
        assert len(stored) == len(rows), "one copy stored twice"
        return stored

    def _check_everything_stored(self) -> None:
        expected = {
            (folder, item): (self.sent[raw], tuple(sorted(self.box.flags(item, folder))))
            for folder in FOLDERS for item, raw in self.box.live(folder).items()
        }
        assert self._stored() == expected


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the schema and the sample CRM (Ana and Tom are its contacts)."""
    path = tmp_path_factory.mktemp("machine") / "template.db"
    cli = Cli(f"sqlite:///{path}")
    cli("db", "upgrade")
    load_sample_crm(cli)
    return path


@pytest.mark.timeout(900)  # passing takes seconds; shrinking a failure can take minutes
def test_exactly_once_through_crashes_and_restarts(template: Path, tmp_path: Path) -> None:
    machine: Callable[[], ExactlyOnce] = lambda: ExactlyOnce(template, tmp_path)  # noqa: E731
    run_state_machine_as_test(machine, settings=settings(
        max_examples=30, stateful_step_count=15, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow]))


@pytest.mark.xfail(strict=True, reason=(
    "two copies of one Message-ID in one folder are stored as one source row "
    "(PageWriter._merge_source keeps one per mailbox, folder and activity, with the last "
    "copy's id): deleting that copy leaves the other one, still in the folder, unrecorded"))
def test_two_copies_in_one_folder_then_one_deleted(template: Path, tmp_path: Path) -> None:
    # Not generated by the machine above (it copies across folders only) until fixed.
    machine = ExactlyOnce(template, tmp_path)
    try:
        raw = make_mail(1)
        machine.sent[raw] = "<m1@test.example>"
        first = machine.box.append(raw)
        second = machine.box.append(raw)
        machine.sync()
        held = {item for _, item in machine._stored()}
        machine.box.delete(first if first in held else second)
        machine.sync()
    finally:
        machine.teardown()
