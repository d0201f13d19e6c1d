"""The headline benchmark: crmsync's IMAP ingest against mbsync and offlineimap.

One run, one private Dovecot, one generated mailbox (see :mod:`bench.mailgen`):

1. initial sync, tools alternating round by round: crmsync into a fresh SQLite CRM
   (parse, match, store), mbsync (isync) into a fresh Maildir, offlineimap likewise;
2. each tool's no-change re-sync;
3. 100 new messages APPENDed, then each tool's sync;
4. another 100 APPENDed, then crmsync inside one long-running process
   (:mod:`bench.poll`, what ``crmsync serve`` pays per poll, without the Python start
   and imports a CLI run pays): that +100 sync, then no-change polls.

Every step is a separate process measured with ``wait4`` (wall, CPU user/sys, peak
RSS) while the Dovecot process tree's CPU is read from ``/proc``. The last line is
``ratio crmsync/mbsync initial msgs/s: X.XX``.

Run: ``python -m bench.imap_ingest [--messages 20000] [--rounds 1]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench import harness, mailgen
from bench.harness import Run, crmsync_command, measure

USER, PASSWORD = "bench", "bench-pw"
TOOLS = ("crmsync", "mbsync", "offlineimap")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.imap_ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--new", type=int, default=100, help="messages added before re-sync")
    parser.add_argument("--rounds", type=int, default=1, help="initial syncs per tool")
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--domains", type=int, default=300)
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    return parser.parse_args(argv)


class Bench:
    """The state of one benchmark run: server, corpus, and each tool's last sync target."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.tools = [t for t in args.tools.split(",") if t]
        self.corpus = mailgen.make_corpus(args.contacts, args.domains)
        self.factory = mailgen.MailFactory(self.corpus)
        self.server = harness.start_dovecot()
        self.results: dict[tuple[str, str], list[Run]] = {}
        self.commands: dict[str, list[str]] = {}
        self.env: dict[str, str] = {}
        self.poll_line = ""

    # -- setup -----------------------------------------------------------------------

    def fill(self) -> None:
        """Generate the mailbox on the server side and let Dovecot index it once."""
        self.server.add_user(USER, PASSWORD)
        started = time.perf_counter()
        count, size = mailgen.write_maildir(
            harness.maildir_of(self.server, USER), self.factory.messages(self.args.messages),
            owner=harness.mail_owner(),
        )
        self.size = size
        with self.server.connect(USER) as client:
            client.select_folder("INBOX", readonly=True)
            # The same warm-up for every tool: index, cache and page cache are hot.
            uids = client.search(["ALL"])
            for start in range(0, len(uids), 1000):
                client.fetch(uids[start:start + 1000],
                             ["UID", "FLAGS", "RFC822.SIZE", "INTERNALDATE", "BODYSTRUCTURE"])
        print(f"# mailbox: {count:,} messages, {size / 1e6:,.0f} MB "
              f"(avg {size / max(count, 1) / 1024:.1f} KB), generated and indexed in "
              f"{time.perf_counter() - started:.1f} s")

    def prepare(self, tool: str, round_: int) -> None:
        """Give ``tool`` a fresh, empty target for an initial sync (not timed)."""
        target = self.workdir / f"{tool}-{round_}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        if tool == "crmsync":
            self._prepare_crmsync(target)
        elif tool == "mbsync":
            conf = harness.mbsync_config(target / "mbsyncrc", self.server, USER, PASSWORD,
                                         target / "mail")
            self.commands[tool] = ["mbsync", "-q", "-c", str(conf), "bench"]
        else:
            conf = harness.offlineimap_config(target / "offlineimaprc", self.server, USER,
                                              PASSWORD, target / "mail")
            self.commands[tool] = ["offlineimap", "-o", "-u", "quiet", "-c", str(conf)]

    def _prepare_crmsync(self, target: Path) -> None:
        self.env = {"CRMSYNC_DATABASE_URL": f"sqlite:///{target / 'crmsync.db'}",
                    "CRMSYNC_SECRET_KEY": "bench-key", "BENCH_IMAP_PASSWORD": PASSWORD,
                    # Byte-code cached as an installed package has it (pip compiles on
                    # install), outside the tree; compiled here, untimed, kept across runs.
                    "PYTHONDONTWRITEBYTECODE": "",
                    "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir())
                                               / "crmsync-bench-pycache")}
        compiled = measure([sys.executable, "-m", "compileall", "-q",
                            str(harness.ROOT / "crmsync")], env=self.env)
        if compiled.returncode:
            raise RuntimeError(f"compileall failed:\n{compiled.output}")
        csvs = mailgen.write_crm(self.corpus, self.workdir / "crm")
        for args in (
            ["db", "upgrade"],
            ["org", "set-domains", mailgen.INTERNAL_DOMAIN],
            ["crm", "import", *[x for k, p in csvs.items() for x in (f"--{k}", str(p))]],
            ["mailbox", "add", "imap", "bench", "--host", self.server.host,
             "--port", str(self.server.port), "--security", "none", "--username", USER,
             "--password-env", "BENCH_IMAP_PASSWORD", "--owner", mailgen.OWNER,
             "--since", "2000-01-01", "--folders", "INBOX"],
        ):
            run = measure(crmsync_command(*args), env=self.env, cwd=target)
            if run.returncode:
                raise RuntimeError(f"crmsync {' '.join(args[:2])} failed:\n{run.output}")
        self.commands["crmsync"] = crmsync_command("sync", "--mailbox", "bench", "--once")

    # -- timed steps -------------------------------------------------------------------

    def sync(self, tool: str, step: str) -> Run:
        """Run ``tool``'s sync command once and record it under ``step``."""
        env = self.env if tool == "crmsync" else None
        run = measure(self.commands[tool], self.server, env=env, cwd=self.workdir)
        if run.returncode:
            raise RuntimeError(f"{tool} {step} exited {run.returncode}:\n{run.output[-3000:]}")
        self.results.setdefault((tool, step), []).append(run)
        print(f"#   {tool:<12} {step:<9} {run.wall:8.2f} s  client cpu {run.client_cpu:6.2f} s"
              f"  server cpu {run.server_cpu:6.2f} s  rss {run.rss_mb:6.1f} MB"
              + (f"  [{_summary(run.output)}]" if tool == "crmsync" else ""), flush=True)
        return run

    def poll_in_process(self, repeat: int = 20) -> str:
        """Time crmsync's +N sync and no-change polls inside one process (bench.poll)."""
        run_ = measure([sys.executable, "-m", "bench.poll", "--mailbox", "bench",
                        "--repeat", str(repeat)], self.server, env=self.env, cwd=harness.ROOT)
        if run_.returncode:
            raise RuntimeError(f"bench.poll exited {run_.returncode}:\n{run_.output[-3000:]}")
        self.poll_line = run_.output.strip().splitlines()[-1]
        print(f"#   crmsync      {self.poll_line}", flush=True)
        return self.poll_line

    def add_new(self, count: int) -> None:
        """APPEND ``count`` new messages, as mail arriving does."""
        when = self.factory.start + timedelta(days=59, hours=1)
        with self.server.connect(USER) as client:
            for _ in range(count):
                client.append("INBOX", self.factory.make(when), (), when)

    def stop(self) -> None:
        self.server.stop()


def _summary(output: str) -> str:
    line = output.strip().splitlines()[-1] if output.strip() else ""
    return line.split(": ", 2)[-1][:120]


def processed(output: str) -> int:
    """Return how many messages a ``crmsync sync`` report says it handled."""
    counts = re.findall(r"(\d+) (captured|merged|quarantined|skipped[^,]*)", output)
    return sum(int(n) for n, _kind in counts)


def run(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """Run the whole benchmark; return the headline numbers (also printed)."""
    harness.ensure_peers([t for t in args.tools.split(",") if t != "crmsync"]
                         + ["/usr/sbin/dovecot"])
    bench = Bench(args, workdir)
    try:
        bench.fill()
        for round_ in range(args.rounds):
            shift = round_ % len(bench.tools)
            order = bench.tools[shift:] + bench.tools[:shift]
            for tool in order:
                bench.prepare(tool, round_)
                run_ = bench.sync(tool, "initial")
                if tool == "crmsync" and processed(run_.output) != args.messages:
                    raise RuntimeError(f"crmsync handled {processed(run_.output)} of "
                                       f"{args.messages} messages:\n{run_.output}")
        for tool in bench.tools:
            bench.sync(tool, "no-change")
        bench.add_new(args.new)
        for tool in bench.tools:
            bench.sync(tool, f"+{args.new}")
        if "crmsync" in bench.tools:
            bench.add_new(args.new)
            bench.poll_in_process()
    finally:
        bench.stop()
    return report(bench, args)


def report(bench: Bench, args: argparse.Namespace) -> dict[str, float]:
    """Print the results table and the ratio line; return the numbers."""
    rows = []
    rates = {
        tool: args.messages / harness.median([r.wall for r in bench.results[(tool, "initial")]])
        for tool in bench.tools
    }
    for tool in bench.tools:
        initial = bench.results[(tool, "initial")]
        wall = harness.median([r.wall for r in initial])
        best = min(initial, key=lambda r: abs(r.wall - wall))
        again = bench.results[(tool, "no-change")][0]
        new = bench.results[(tool, f"+{args.new}")][0]
        rows.append([tool, rates[tool], wall, best.user, best.sys, best.server_cpu, best.rss_mb,
                     f"{again.wall:.2f} s", f"{new.wall:.2f} s",
                     f"{rates[tool] / rates['mbsync']:.2f}" if "mbsync" in rates else "-"])
    print()
    print(f"{args.messages:,} messages ({bench.size / 1e6:,.0f} MB), {args.rounds} round(s), "
          f"median initial sync; CPU/RSS of that run")
    harness.print_table(
        ["tool", "initial msgs/s", "wall s", "client user s", "client sys s", "server cpu s",
         "peak RSS MB", "no-change re-sync", f"+{args.new} new", "× mbsync"], rows)
    if bench.poll_line:
        print(f"crmsync {bench.poll_line} (the CLI runs above include the Python "
              f"start and imports)")
    ratio = rates["crmsync"] / rates["mbsync"] if {"crmsync", "mbsync"} <= rates.keys() else 0.0
    print(f"ratio crmsync/mbsync initial msgs/s: {ratio:.2f}")
    return {"ratio": ratio, **{f"{t}_msgs_per_s": r for t, r in rates.items()}}


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return run(args, args.workdir)
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    main()
