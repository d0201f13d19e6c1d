"""A large first sync fetches in a child process: same result, errors carried, no leaks.

Real parts only: a real Dovecot, the real child (``python -m
crmsync.sync_service.engine.fetch_process``), the CLI in-process on both databases.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from crmsync.connectors.base import Page
from crmsync.errors import AuthError, ConfigError, TransientError
from crmsync.mapping.facts import facts_key, mail_facts
from crmsync.sync_service.engine import fetch_process
from crmsync.sync_service.engine.fetch_process import ChildPages, FetchJob
from crmsync.sync_service.mailboxes.connector_spec import ConnectorSpec
from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.engine.mails import TOM, make_mail, sample_mailbox
from tests.servers.dovecot import DovecotServer


def _without_ids(activities: list[dict]) -> list[dict]:
    """Exports compared across databases: everything but row ids and capture times."""
    def clean(value: object) -> object:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in ("id", "created_at")}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return sorted((clean(a) for a in activities), key=lambda a: str(a["internet_message_id"]))


def test_a_backfill_in_a_child_stores_what_one_in_process_stores(
        cli: Cli, dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same mailbox synced twice into two CRMs: in this process, and through a child
    # (every first sync takes one when the threshold is 1). Same activities, same links.
    user = new_user(dovecot)
    for raw in sample_mailbox():
        dovecot.append(user, "INBOX", raw)
    for n in range(30):
        dovecot.append(user, "INBOX", make_mail(100 + n, sender=TOM))
    children: list[FetchJob] = []
    enter = ChildPages.__enter__
    monkeypatch.setattr(ChildPages, "__enter__",
                        lambda self: children.append(self._job) or enter(self))

    pages_of_7 = {"CRMSYNC_SYNC_BATCH_SIZE": "7"}
    in_process = Cli(f"sqlite:///{tmp_path / 'in-process.db'}",
                     env={"CRMSYNC_FETCH_PROCESS_MIN_MESSAGES": "0", **pages_of_7})
    in_process("db", "upgrade")
    child = Cli(cli.env["CRMSYNC_DATABASE_URL"],
                env={"CRMSYNC_FETCH_PROCESS_MIN_MESSAGES": "1", **pages_of_7})
    for target in (in_process, child):
        load_sample_crm(target)
        name = add_mailbox(target, dovecot, user, "maria")
        assert "ok" in sync(target, name)
    assert [job.resource for job in children] == ["INBOX"]
    assert _without_ids(child.export_activities()) == _without_ids(in_process.export_activities())
    assert len(child.export_activities()) == 40

    # Polls stay in this process, and mail arriving later is still picked up once.
    dovecot.append(user, "INBOX", make_mail(200, sender=TOM))
    assert "1 captured" in sync(child, "maria")
    assert len(children) == 1


def _user_with(dovecot: DovecotServer, count: int) -> str:
    """A new Dovecot user with ``count`` mails in INBOX."""
    user = new_user(dovecot)
    for n in range(count):
        dovecot.append(user, "INBOX", make_mail(n))
    return user


def _job(dovecot: DovecotServer, user: str, secret: str, **settings: object) -> FetchJob:
    options = {"host": dovecot.host, "port": dovecot.port, "security": "none",
               "username": user, "batch_size": 2, **settings}
    return FetchJob(ConnectorSpec("imap", options, secret), "INBOX", None)


def test_pages_come_in_order_with_their_cursors(dovecot: DovecotServer) -> None:
    user = _user_with(dovecot, 5)
    with ChildPages(_job(dovecot, user, "pw-" + user)) as pages:
        got = list(pages)
    assert all(isinstance(page, Page) for page, _facts in got)
    assert [len(page.changes) for page, _facts in got] == [2, 2, 1]
    assert got[-1][0].cursor != got[0][0].cursor
    # Each page brings its mails' facts, exactly what this process would compute.
    for page, facts in got:
        assert facts == {facts_key(mail): mail_facts(mail) for mail in page.changes}


def test_the_childs_errors_reach_the_engine_as_themselves(dovecot: DovecotServer) -> None:
    # A refused login is still an AuthError (the mailbox then shows "needs re-auth"), a
    # bad setting still a ConfigError, and both say what they said in the child.
    user = _user_with(dovecot, 1)
    with pytest.raises(AuthError), ChildPages(_job(dovecot, user, "wrong")) as pages:
        list(pages)
    with pytest.raises(ConfigError, match="invalid IMAP settings"), \
            ChildPages(_job(dovecot, user, "pw", security="carrier-pigeon")) as pages:
        list(pages)


def test_a_child_that_dies_is_a_transient_error(dovecot: DovecotServer) -> None:
    # Killed mid-backfill (OOM killer, an admin): the engine gets a retryable error, and
    # since nothing after the last committed page counted, the next run resumes there.
    user = _user_with(dovecot, 6)
    source = ChildPages(_job(dovecot, user, "pw-" + user))
    with pytest.raises(TransientError, match="ended unexpectedly"), source as pages:
        next(pages)
        assert source._process is not None  # noqa: SLF001 - the child to kill
        source._process.kill()  # noqa: SLF001
        list(pages)


def test_leaving_early_ends_the_child(dovecot: DovecotServer) -> None:
    user = _user_with(dovecot, 20)
    source = ChildPages(_job(dovecot, user, "pw-" + user))
    with source as pages:
        next(pages)
        process = source._process  # noqa: SLF001
    assert process is not None and process.poll() is not None


def test_the_password_is_not_on_the_childs_command_line_or_environment(
        dovecot: DovecotServer) -> None:
    # Other local users can read /proc/<pid>/cmdline; environments leak into crash
    # reports. The credential goes over the child's stdin only.
    user = new_user(dovecot)
    secret = "pw-" + user
    for n in range(6):
        dovecot.append(user, "INBOX", make_mail(n))
    source = ChildPages(_job(dovecot, user, secret))
    with source as pages:
        next(pages)
        assert source._process is not None  # noqa: SLF001
        proc = Path(f"/proc/{source._process.pid}")  # noqa: SLF001
        assert secret.encode() not in (proc / "cmdline").read_bytes()
        assert secret.encode() not in (proc / "environ").read_bytes()
        list(pages)
    assert secret not in repr(_job(dovecot, user, secret))


def test_what_the_child_prints_never_corrupts_the_pages(
        monkeypatch: pytest.MonkeyPatch, dovecot: DovecotServer) -> None:
    # Pages travel on a pipe of their own: a stray print() in the child (a library, a
    # debug line, before or after start-up) cannot get between two frames.
    user = _user_with(dovecot, 1)
    command = fetch_process.child_command

    def noisy(fd: int) -> list[str]:
        module = command(fd)[2]
        script = (f"import runpy, sys; print('noise' * 1000); sys.argv = ['x', '{fd}']; "
                  f"runpy.run_module('{module}', run_name='__main__'); print('more noise')")
        return [sys.executable, "-c", script]

    monkeypatch.setattr(fetch_process, "child_command", noisy)
    with ChildPages(_job(dovecot, user, "pw-" + user)) as pages:
        assert sum(len(page.changes) for page, _facts in pages) == 1
