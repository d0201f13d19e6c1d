"""The house's layout holds: no import cycles, and every folder imports only downstream.

Every import counts, at module level, inside a function or under ``TYPE_CHECKING``: a
cycle hidden in a function still means two modules that cannot be understood (or
moved) one without the other. The rules are the README's layout table ("one way"), as code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "crmsync"

#: (importer prefix, imported prefix, why it may not)
FORBIDDEN = [
    ("crmsync.connectors", "crmsync.crm", "connectors never touch the database"),
    ("crmsync.connectors", "crmsync.sync_service", "connectors know no engine"),
    ("crmsync.mapping", "crmsync.crm", "mapping decides, it does not query"),
    ("crmsync.mapping", "crmsync.sync_service", "mapping is pure"),
    ("crmsync.crm", "crmsync.sync_service", "the store is below the service"),
    ("crmsync.sync_service.engine", "crmsync.sync_service.web", "surfaces import the engine"),
    ("crmsync.sync_service.engine", "crmsync.sync_service.cli", "surfaces import the engine"),
    ("crmsync.sync_service.engine", "crmsync.sync_service.triggers",
     "triggers import the engine"),
    ("crmsync.sync_service.engine", "crmsync.sync_service.support",
     "page hooks are handed to the engine at start-up"),
    ("crmsync.sync_service.engine", "crmsync.sync_service.startup",
     "page hooks are handed to the engine at start-up"),
    ("crmsync.sync_service.context", "crmsync.sync_service.startup",
     "start-up builds the services, not the reverse"),
    ("crmsync.sync_service.mailboxes", "crmsync.sync_service.engine",
     "leases and credentials are below the engine and the support outbox"),
    ("crmsync.sync_service.mailboxes", "crmsync.sync_service.support",
     "leases and credentials are below the engine and the support outbox"),
    ("crmsync.sync_service.support", "crmsync.sync_service.web", "surfaces sit on top"),
    ("crmsync.sync_service.support", "crmsync.sync_service.cli", "surfaces sit on top"),
    ("crmsync.sync_service.support", "crmsync.sync_service.triggers", "triggers sit on top"),
    ("crmsync.sync_service.triggers", "crmsync.sync_service.web", "surfaces sit on top"),
    ("crmsync.sync_service.triggers", "crmsync.sync_service.cli", "surfaces sit on top"),
    ("crmsync.sync_service.web", "crmsync.sync_service.cli", "two surfaces, side by side"),
    ("crmsync.sync_service.engine", "crmsync.sync_service.workers",
     "the engine runs the same in one process and on a worker"),
    ("crmsync.sync_service.workers", "crmsync.sync_service.web", "surfaces sit on top"),
    ("crmsync.sync_service.workers", "crmsync.sync_service.cli", "surfaces sit on top"),
    ("crmsync.sync_service.support", "crmsync.connectors.graph",
     "the outbox sends through the connector's Sending capability"),
    ("crmsync.sync_service.support", "crmsync.connectors.imap",
     "the outbox sends through the connector's Sending capability"),
    ("crmsync.sync_service.support", "crmsync.connectors.smtp",
     "the outbox sends through the connector's Sending capability"),
    ("crmsync.sync_service.triggers", "crmsync.connectors.graph",
     "push goes through the connector's Subscribing and Idling capabilities"),
    ("crmsync.sync_service.triggers", "crmsync.connectors.imap",
     "push goes through the connector's Subscribing and Idling capabilities"),
]
#: libraries that do I/O, which mapping/ (pure decisions) never imports
IO_LIBRARIES = ("sqlalchemy", "socket", "smtplib", "imaplib", "imapclient", "requests",
                "httpx", "urllib.request", "msal", "exchangelib", "subprocess", "flask", "caldav")
#: libraries that talk to a mail system, which only connectors/ imports
MAIL_LIBRARIES = ("smtplib", "imaplib", "imapclient", "msal", "exchangelib", "caldav")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported_names(module: str, path: Path) -> Iterator[str]:
    """Every dotted name ``module`` imports, with relative imports made absolute."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # "from package import module" is the module; "from module import name", the
            # module: either way the longest module the dotted name starts with
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    """Module → the crmsync modules it imports (a name resolves to its longest module)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {resolve(name) for name in _imported_names(module, path)}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_no_import_cycles_even_inside_functions():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(("importer", "imported", "why"), FORBIDDEN,
                         ids=[f"{a}-/->{b}" for a, b, _ in FORBIDDEN])
def test_imports_flow_one_way(importer, imported, why):
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items() if _within(module, importer)
        for target in targets if _within(target, imported)
    )
    assert not wrong, f"{why}: {wrong}"


def test_mapping_does_no_io():
    modules = _modules()
    wrong = sorted(
        f"{module} imports {name}"
        for module, path in modules.items() if _within(module, "crmsync.mapping")
        for name in _imported_names(module, path)
        if any(_within(name, library) for library in IO_LIBRARIES)
    )
    assert not wrong


def test_only_connectors_talk_to_mail_systems():
    # sync_service contains no provider-specific I/O (SMTP, Graph calls).
    modules = _modules()
    wrong = sorted(
        f"{module} imports {name}"
        for module, path in modules.items() if _within(module, "crmsync.sync_service")
        for name in _imported_names(module, path)
        if any(_within(name, library) for library in MAIL_LIBRARIES)
    )
    assert not wrong


def test_only_the_workers_know_celery():
    # The engine (and everything but workers/) runs the same in one process and on a
    # worker: Celery stays in its room.
    modules = _modules()
    wrong = sorted(
        f"{module} imports {name}"
        for module, path in modules.items()
        if not _within(module, "crmsync.sync_service.workers")
        for name in _imported_names(module, path) if _within(name, "celery")
    )
    assert not wrong


def test_each_room_of_the_service_says_what_it_is_for():
    """A newcomer walks the house by its doorplates: every package has a docstring."""
    undocumented = sorted(
        str(init.relative_to(PACKAGE.parent))
        for init in PACKAGE.rglob("__init__.py")
        if "migrations" not in init.parts
        and ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) is None
    )
    assert not undocumented


def _layout_table() -> list[str]:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_the_readme_layout_table_names_every_room_and_only_rooms_that_exist():
    named = {path.rstrip("/") for row in _layout_table()
             for path in row.split("|")[1].replace("`", "").replace(",", " ").split()}
    missing = sorted(p for p in named if not (PACKAGE.parent / p).exists())
    rooms = {str(d.relative_to(PACKAGE.parent)) for d in PACKAGE.iterdir()
             if (d / "__init__.py").exists()}
    rooms |= {str(d.relative_to(PACKAGE.parent)) for d in (PACKAGE / "sync_service").iterdir()
              if (d / "__init__.py").exists()}
    unnamed = sorted(rooms - named - {"crmsync/sync_service"})
    assert (missing, unnamed) == ([], [])


#: a document named in code, e.g. ``FOO.md`` or ``notes/FOO.md``
_DOCUMENT = re.compile(r"[\w./-]*\b[A-Z][A-Z_]*\.md\b")


def test_code_names_only_files_a_clone_holds():
    """Docstrings and comments name only documents this repository holds."""
    root = PACKAGE.parent
    held = {path.name for path in root.rglob("*.md")
            if not {".git", ".venv"} & set(path.parts)}
    checkers = {Path(__file__).resolve(), root / "tests" / "test_docs.py"}  # their examples
    wrong = sorted(
        f"{path.relative_to(root)}: {name}"
        for folder in ("crmsync", "bench", "scripts", "tests")
        for path in (root / folder).rglob("*.py") if path not in checkers
        for name in _DOCUMENT.findall(path.read_text(encoding="utf-8"))
        if name.startswith("../") or name.rsplit("/", 1)[-1] not in held
    )
    assert wrong == []


def test_the_document_check_finds_a_missing_document():
    assert _DOCUMENT.findall("see NOWHERE.md and ../other/README.md") == [
        "NOWHERE.md", "../other/README.md"]
