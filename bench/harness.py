"""What every benchmark shares: a private Dovecot, measured child processes, the peers.

* :func:`start_dovecot` runs the tests' :class:`~tests.servers.dovecot.DovecotServer`
  (own config in a temporary directory, 127.0.0.1, a free port).
* :func:`measure` runs one command and returns wall time, the client's CPU user/sys
  and peak RSS (from ``wait4``), and the CPU the Dovecot process tree spent meanwhile
  (``/proc``: live processes plus what exited children left in their parent's
  ``cutime``/``cstime``).
* :func:`mbsync_config` / :func:`offlineimap_config` point the peers at the same server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.servers.dovecot import MAIL_UID, DovecotServer

#: the benchmarks' Dovecot listens on loopback, which crmsync refuses unless allowed
os.environ.setdefault("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", "127.0.0.0/8;::1/128")

ROOT = Path(__file__).resolve().parent.parent
PEERS = {"mbsync": "isync", "offlineimap": "offlineimap", "/usr/sbin/dovecot": "dovecot-imapd"}
_TICK = os.sysconf("SC_CLK_TCK")


def ensure_peers(names: Sequence[str] = tuple(PEERS)) -> None:
    """``apt-get install`` the peers that are missing (needs root, as scripts/test.sh)."""
    missing = [PEERS[n] for n in names if shutil.which(n) is None and not Path(n).exists()]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", *missing], check=True, env=env)


def start_dovecot() -> DovecotServer:
    """Start a private Dovecot (CONDSTORE, QRESYNC, IDLE: Debian's defaults)."""
    server = DovecotServer()
    server.start()
    return server


def maildir_of(server: DovecotServer, user: str) -> Path:
    """Return the server-side Maildir of ``user`` (``<home>/Maildir``)."""
    return server._path("mail") / user / "Maildir"  # noqa: SLF001 - same project's helper


def mail_owner() -> int | None:
    """Return the uid Dovecot's mail files must belong to, or ``None`` (not root)."""
    return MAIL_UID if os.geteuid() == 0 else None


@dataclass
class Run:
    """One measured command."""

    wall: float
    user: float
    sys: float
    rss_mb: float
    server_cpu: float
    returncode: int
    output: str = ""

    @property
    def client_cpu(self) -> float:
        return self.user + self.sys


def _proc_cpu(pid: int) -> tuple[float, int]:
    """Return (utime+stime+cutime+cstime seconds, ppid) of a live process."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / _TICK, int(fields[1])


def tree_cpu(root: int) -> float:
    """Return the CPU seconds of ``root`` and its descendants, dead ones included."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cpu[int(entry)], parents[int(entry)] = _proc_cpu(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    total, frontier = 0.0, {root}
    while frontier:
        total += sum(cpu.get(pid, 0.0) for pid in frontier)
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier}
    return total


def server_pid(server: DovecotServer) -> int:
    assert server._process is not None  # noqa: SLF001
    return server._process.pid  # noqa: SLF001


def measure(command: Sequence[str], server: DovecotServer | None = None,
            env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run ``command`` to completion and measure it (see module docstring)."""
    before = tree_cpu(server_pid(server)) if server else 0.0
    start = time.perf_counter()
    process = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    process.stdout.close()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    time.sleep(0.05)  # let Dovecot reap the session's imap process
    after = tree_cpu(server_pid(server)) if server else 0.0
    return Run(wall=wall, user=usage.ru_utime, sys=usage.ru_stime,
               rss_mb=usage.ru_maxrss / 1024, server_cpu=max(0.0, after - before),
               returncode=process.returncode, output=output)


def crmsync_command(*args: str) -> list[str]:
    """Return the command line running the ``crmsync`` CLI of this checkout."""
    return [sys.executable, "-m", "crmsync", *args]


def mbsync_config(path: Path, server: DovecotServer, user: str, password: str,
                  maildir: Path) -> Path:
    """Write an mbsync (isync 1.4) config that pulls INBOX into ``maildir``."""
    maildir.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""\
IMAPAccount bench
Host {server.host}
Port {server.port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
""")
    return path


def offlineimap_config(path: Path, server: DovecotServer, user: str, password: str,
                       maildir: Path) -> Path:
    """Write an offlineimap 8 config that pulls INBOX into ``maildir`` (read-only remote)."""
    maildir.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""\
[general]
accounts = bench
metadata = {maildir}/.meta
ui = quiet

[Account bench]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {maildir}

[Repository remote]
type = IMAP
remotehost = {server.host}
remoteport = {server.port}
remoteuser = {user}
remotepass = {password}
ssl = no
starttls = no
readonly = True
folderfilter = lambda folder: folder == 'INBOX'
""")
    return path


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[index]


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table (pastes into bench/README.md as is)."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    line = "| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
