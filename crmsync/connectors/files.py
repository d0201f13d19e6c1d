"""Mail files as a connector: ``.eml`` (one message) and mbox files (many).

One resource per file (its path as given). The cursor is the index of the next
message, so an import resumes where it stopped and picks up messages appended to an
mbox later. mbox files are split while streaming on ``From `` lines that start the
file or follow a blank line, so a large archive is never loaded whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from crmsync.connectors.base import Change, Connector, Page
from crmsync.connectors.mime import parse_message
from crmsync.errors import ConfigError, UserError

_MBOX_ESCAPED_FROM = re.compile(rb"^>(>*From )")


class FileConnector(Connector):
    """Messages stored in ``.eml`` and mbox files, read-only.

    :param paths: the files; each is one resource.
    :param batch_size: messages per :class:`Page`.
    """

    name = "files"
    supports_delta = True

    def __init__(self, paths: list[Path], batch_size: int = 500) -> None:
        self.paths = [Path(p) for p in paths]
        self.batch_size = batch_size

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], secret: str) -> FileConnector:
        """See `Connector.from_settings`: ``paths`` (a list) and ``batch_size``; no secret.

        :raises ConfigError: no ``paths`` given.
        """
        paths = settings.get("paths")
        if not paths or isinstance(paths, str):
            raise ConfigError("file connector needs 'paths'", ["paths: a list of mail files"])
        return cls([Path(p) for p in paths], int(settings.get("batch_size") or 500))

    def list_resources(self) -> list[str]:
        """See `Connector.list_resources`: every path, checked to be a mail file.

        :raises UserError: a file is missing, a directory, or not mail.
        """
        for path in self.paths:
            _detect(path)
        return [str(path) for path in self.paths]

    def fetch_changes(self, resource: str, cursor: str | None) -> Iterator[Page]:
        """See `Connector.fetch_changes`; the cursor is the index of the next message."""
        path = Path(resource)
        start = _start_index(resource, cursor)
        changes: list[Change] = []
        count, paged = start, False
        for index, raw in enumerate(_messages(path)):
            if index < start:
                continue
            changes.append(parse_message(raw, item_id=f"{path.name}#{index}", folder=resource))
            count = index + 1
            if len(changes) == self.batch_size:
                yield Page(resource, changes, str(count))
                changes, paged = [], True
        if changes or not paged:
            yield Page(resource, changes, str(count))


def _start_index(resource: str, cursor: str | None) -> int:
    """Return the index the cursor points at (0 for a first import)."""
    if cursor is None:
        return 0
    if not cursor.isdigit():
        raise UserError(f"{resource}: not a file cursor: {cursor!r}")
    return int(cursor)


def _detect(path: Path) -> str:
    """Return ``mbox`` (starts with ``From ``) or ``eml`` (any other text file).

    A text file that is no mail is still read, as one message that parses to
    ``Unreadable``: it is quarantined, not refused. Only what cannot hold mail at all
    is refused.

    :raises UserError: the file is missing, unreadable, a directory, empty or binary.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except IsADirectoryError as exc:
        raise UserError(f"{path} is a directory, not a mail file", [str(exc)]) from exc
    except OSError as exc:
        raise UserError(f"cannot read mail file {path}: {exc.strerror}", [str(exc)]) from exc
    if not head.strip():
        raise UserError(f"{path} is not a mail file", ["the file is empty"])
    if head.lstrip(b"\r\n").startswith(b"From "):
        # An mbox: a damaged message inside it (NUL bytes and all) is quarantined on
        # its own; it must not cost the thousands of good ones around it.
        return "mbox"
    if b"\x00" in head:
        raise UserError(f"{path} is not a mail file", ["it holds binary data (NUL bytes)"])
    return "eml"


def _messages(path: Path) -> Iterator[bytes]:
    """Yield each message of the file as bytes, reading it line by line."""
    if _detect(path) == "eml":
        yield path.read_bytes()
        return
    lines: list[bytes] = []
    previous_blank = True
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b"From ") and previous_blank and lines:
                yield _join(lines)
                lines = []
            lines.append(line)
            previous_blank = line in (b"\n", b"\r\n")
    if lines:
        yield _join(lines)


def _join(lines: list[bytes]) -> bytes:
    """Return one mbox message: the envelope line kept, ``>From`` unquoted (mboxrd)."""
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]  # the blank line mbox puts before the next ``From ``
    return b"".join(_MBOX_ESCAPED_FROM.sub(rb"\1", line) for line in lines)
