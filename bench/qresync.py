"""What an IMAP poll costs at 100,000 messages in one folder: QRESYNC against RFC 4549.

Two private Dovecots on 127.0.0.1, each with one user whose Inbox holds ``--messages``
small messages (APPENDed, 1,000 per MULTIAPPEND):

* **QRESYNC**: Debian's Dovecot as it comes (CONDSTORE, QRESYNC): the poll's EXAMINE
  carries the cursor's UIDVALIDITY and HIGHESTMODSEQ and the answer names what was
  expunged (``VANISHED (EARLIER)``);
* **RFC 4549**: the same Dovecot advertising neither CONDSTORE nor QRESYNC (like
  Microsoft 365's IMAP, the tests' ``dovecot_without_condstore``): when EXISTS shows an
  expunge, ``UID SEARCH UID <every known UID>`` tells which.

Each server gets one :class:`~crmsync.connectors.imap.ImapConnector` in this process, as
``crmsync serve`` holds one, logged in by an untimed warm-up poll. It starts from the
cursor a finished first sync leaves (every UID known), built from SELECT and
``UID SEARCH ALL`` instead of fetching 100,000 messages first. Then, per server:

1. ``--rounds`` no-change polls;
2. ``--rounds`` expunge polls: another session expunges ``--expunge`` scattered
   messages (untimed), then one poll, whose Deletions are checked against them.

The servers store mail as mdbox by default (``--storage``): with Maildir, Dovecot
re-reads the folder's directory (one entry per message) on the first SELECT after any
change, which costs both paths the same and hides what the protocol costs; the
``maildir`` runs show that server cost (the messages are then written straight into
the Maildir).

Timed is ``fetch_changes`` to its last page, and the client's CPU during it. Round
trips are the IMAP commands the poll sent (one tag each; crmsync never pipelines),
bytes are what crossed the socket. The last line is
``ratio expunge poll rfc4549/qresync seconds: X.XX``.

Run: ``python -m bench.qresync [--messages 100000] [--rounds 5] [--expunge 10]
[--storage mdbox|maildir]``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bench import harness, mailgen
from crmsync.connectors.base import Deletion
from crmsync.connectors.imap import ImapConnector, ImapSettings
from crmsync.connectors.imap.cursor import ImapCursor
from tests.connectors import mail
from tests.servers.dovecot import DovecotServer

USER, PASSWORD = "bench", "bench-pw"
#: the capability list of the tests' ``dovecot_without_condstore`` (tests/conftest.py),
#: plus MULTIAPPEND for filling it (crmsync does not use it)
WITHOUT_CONDSTORE = "IMAP4rev1 LITERAL+ SASL-IR IDLE UIDPLUS MOVE MULTIAPPEND"
PATHS = {"QRESYNC": None, "RFC 4549": WITHOUT_CONDSTORE}
STORAGE = {"mdbox": "mdbox:~/mdbox", "maildir": "maildir:~/Maildir"}
#: messages per MULTIAPPEND (RFC 3502) when filling an mdbox
APPEND_BATCH = 1000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.qresync", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="polls of each kind")
    parser.add_argument("--expunge", type=int, default=10, help="messages gone per round")
    parser.add_argument("--storage", choices=sorted(STORAGE), default="mdbox",
                        help="Dovecot's mail storage (see above)")
    return parser.parse_args(argv)


@dataclass
class Meter:
    """Counts what one connector's session sends and receives (see :func:`metered`)."""

    commands: int = 0
    sent: int = 0
    received: int = 0

    def reset(self) -> None:
        self.commands = self.sent = self.received = 0


@dataclass
class Poll:
    """One timed poll."""

    seconds: float
    cpu: float
    commands: int
    sent: int
    received: int


@dataclass
class Path_:
    """One server and what its polls cost."""

    name: str
    server: DovecotServer
    connector: ImapConnector
    cursor: str
    meter: Meter = field(default_factory=Meter)
    polls: dict[str, list[Poll]] = field(default_factory=dict)


def fill(server: DovecotServer, count: int, storage: str) -> None:
    """Put ``count`` small messages into the user's Inbox and let Dovecot index them."""
    server.add_user(USER, PASSWORD)
    if storage == "maildir":
        start = datetime(2024, 1, 1)
        messages = ((start + timedelta(seconds=n), mail.plain(n)) for n in range(count))
        mailgen.write_maildir(harness.maildir_of(server, USER), messages,
                              owner=harness.mail_owner())
    with server.connect(USER) as client:
        for first in range(0, count if storage != "maildir" else 0, APPEND_BATCH):
            last = min(count, first + APPEND_BATCH)
            client.multiappend("INBOX", [mail.plain(n) for n in range(first, last)])
        client.select_folder("INBOX", readonly=True)


def finished_cursor(server: DovecotServer) -> str:
    """Return the cursor a finished first sync of the Inbox leaves: every UID known."""
    with server.connect(USER) as client:
        if client.has_capability("CONDSTORE"):
            client.enable("CONDSTORE")  # Dovecot reports HIGHESTMODSEQ only then
        state = client.select_folder("INBOX", readonly=True)
        uids = frozenset(client.search(["ALL"]))
    modseq = state.get(b"HIGHESTMODSEQ")
    return ImapCursor(
        uidvalidity=int(state[b"UIDVALIDITY"]), uidnext=int(state[b"UIDNEXT"]),
        exists=int(state[b"EXISTS"]), modseq=None if modseq is None else int(modseq),
        uids=uids,
    ).dumps()


def metered(connector: ImapConnector, meter: Meter) -> None:
    """Count the commands and bytes of ``connector``'s open session into ``meter``.

    Wraps the imaplib connection's own methods on the instance: each command takes one
    new tag; ``send``/``read``/``readline`` are every byte on the socket.
    """
    imap: Any = connector._client._imap  # type: ignore[union-attr]  # noqa: SLF001

    def wrap(name: str, count: Callable[[Any, tuple[Any, ...]], None]) -> None:
        original = getattr(imap, name)

        def counted(*args: Any) -> Any:
            result = original(*args)
            count(result, args)
            return result

        setattr(imap, name, counted)

    wrap("_new_tag", lambda _r, _a: setattr(meter, "commands", meter.commands + 1))
    wrap("send", lambda _r, args: setattr(meter, "sent", meter.sent + len(args[0])))
    wrap("read", lambda r, _a: setattr(meter, "received", meter.received + len(r)))
    wrap("readline", lambda r, _a: setattr(meter, "received", meter.received + len(r)))


def poll(path: Path_, kind: str) -> list[Any]:
    """Run one timed poll from the path's cursor; record it; return its changes."""
    path.meter.reset()
    started, cpu = time.perf_counter(), time.process_time()
    pages = list(path.connector.fetch_changes("INBOX", path.cursor))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    meter = path.meter
    path.polls.setdefault(kind, []).append(
        Poll(seconds, cpu, meter.commands, meter.sent, meter.received))
    path.cursor = pages[-1].cursor
    return [change for page in pages for change in page.changes]


def expunge(server: DovecotServer, uids: list[int]) -> None:
    """Expunge ``uids`` from the Inbox in another session, as a mail client does."""
    with server.connect(USER) as client:
        client.select_folder("INBOX")
        client.delete_messages(uids)
        client.expunge()


def measure_path(path: Path_, args: argparse.Namespace, rng: random.Random) -> None:
    """Run the no-change and the expunge polls of one server (see module docstring)."""
    assert not poll(path, "warm-up"), "the warm-up poll found changes"
    metered(path.connector, path.meter)
    for _ in range(args.rounds):
        if poll(path, "no-change"):
            raise RuntimeError(f"{path.name}: a no-change poll found changes")
    for _ in range(args.rounds):
        known = sorted(ImapCursor.loads(path.cursor).uids)
        gone = sorted(rng.sample(known, args.expunge))
        expunge(path.server, gone)
        changes = poll(path, "expunge")
        found = sorted(int(c.item_id.split(":")[1]) for c in changes if isinstance(c, Deletion))
        if found != gone or len(changes) != len(gone):
            raise RuntimeError(f"{path.name}: expunged {gone}, the poll reported {changes}")


@contextmanager
def started_paths(args: argparse.Namespace) -> Iterator[list[Path_]]:
    """Start, fill and connect both servers; stop them afterwards."""
    paths: list[Path_] = []
    try:
        for name, capabilities in PATHS.items():
            server = DovecotServer(capabilities=capabilities,
                                   mail_location=STORAGE[args.storage])
            server.start()
            started = time.perf_counter()
            fill(server, args.messages, args.storage)
            settings = ImapSettings(server.host, server.port, "none", USER, folders=("INBOX",))
            paths.append(Path_(name, server, ImapConnector(settings, PASSWORD),
                               finished_cursor(server)))
            print(f"# {name}: {args.messages:,} messages written and indexed in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
        yield paths
    finally:
        for path in paths:
            path.connector.close()
            path.server.stop()


def report(paths: list[Path_], args: argparse.Namespace) -> dict[str, float]:
    """Print the table and the ratio line; return the medians."""
    rows, numbers = [], {}
    for path in paths:
        for kind in ("no-change", "expunge"):
            polls = path.polls[kind]
            seconds = harness.median([p.seconds for p in polls])
            numbers[f"{path.name}:{kind}"] = seconds
            numbers[f"{path.name}:{kind}:round_trips"] = max(p.commands for p in polls)
            rows.append([path.name, kind, f"{seconds * 1000:.1f} ms",
                         f"{max(p.seconds for p in polls) * 1000:.1f} ms",
                         f"{harness.median([p.cpu for p in polls]) * 1000:.1f} ms",
                         max(p.commands for p in polls),
                         int(harness.median([p.sent for p in polls])),
                         int(harness.median([p.received for p in polls]))])
    print()
    print(f"{args.messages:,} messages in one folder ({args.storage}); {args.rounds} polls "
          f"of each kind, {args.expunge} scattered messages expunged before each expunge poll")
    harness.print_table(["path", "poll", "median", "max", "client CPU", "round trips", "bytes sent",
                         "bytes received"], rows)
    ratio = numbers["RFC 4549:expunge"] / numbers["QRESYNC:expunge"]
    print(f"ratio expunge poll rfc4549/qresync seconds: {ratio:.2f}")
    return {**numbers, "ratio": ratio}


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    harness.ensure_peers(["/usr/sbin/dovecot"])
    rng = random.Random(14)
    with started_paths(args) as paths:
        for path in paths:
            measure_path(path, args, rng)
    return report(paths, args)


if __name__ == "__main__":
    main()
