"""The root command loads command modules on demand, and its help still lists them all."""

from __future__ import annotations

import subprocess
import sys

from crmsync.sync_service import cli as cli_package
from tests.conftest import Cli


def test_help_lists_every_command_without_importing_them() -> None:
    code = (
        "import sys\n"
        "from crmsync.sync_service.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'flask', 'requests', 'icalendar')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "HEAVY []" in out
    listed = out.split("Commands:")[1]
    for name, (_modules, short_help) in cli_package.COMMANDS.items():
        assert f"  {name} " in listed
        assert short_help.split()[0] in listed


def test_table_matches_the_commands_modules_define() -> None:
    cli_package.load_commands()
    defined = cli_package.main.commands
    assert sorted(defined) == sorted(cli_package.COMMANDS)
    for name, (_modules, short_help) in cli_package.COMMANDS.items():
        assert defined[name].get_short_help_str(limit=1000) == short_help


def test_lazily_loaded_commands_run(cli: Cli) -> None:
    """`mailbox add imap` (whose group another module extends) and `mailbox list` work."""
    cli("mailbox", "add", "imap", "sales", "--host", "127.0.0.1", "--port", "1143",
        "--security", "none", "--username", "sales", "--password-env", "PW",
        env={"PW": "secret"})
    assert "sales" in cli("mailbox", "list").output
    assert "graph" in cli("mailbox", "add", "--help").output
