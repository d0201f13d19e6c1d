"""EXAMINE with QRESYNC: one round trip reports the expunged and the re-flagged mail.

RFC 7162 3.2.5 (https://www.rfc-editor.org/rfc/rfc7162#section-3.2.5)::

    C: A02 EXAMINE INBOX (QRESYNC (67890007 90060115194045000))
    S: * VANISHED (EARLIER) 41,43:116,118,120:211,214:540
    S: * 49 FETCH (UID 117 FLAGS (\\Seen \\Answered) MODSEQ (90060115194045001))
    S: A02 OK [READ-ONLY] EXAMINE completed

Given the UIDVALIDITY and HIGHESTMODSEQ of the last poll, the server answers the
EXAMINE with the UIDs expunged since that mod-sequence (``VANISHED (EARLIER)``) and a
``FETCH (UID FLAGS MODSEQ)`` for each message changed since, so the RFC 4549 way of
finding expunges (``UID SEARCH`` over every known UID, a request and an answer that grow
with the folder) is not needed. The server ignores the parameters when UIDVALIDITY
differs (the caller resyncs then) and may report more UIDs than were known: the caller
intersects them with its own.

imapclient cannot put parameters on SELECT, so the command goes through its imaplib
connection (``_simple_command``), with imaplib's own bookkeeping for a SELECT redone here
(untagged responses flushed, read-only, the SELECTED state); the answer is parsed by
imapclient's SELECT and FETCH parsers. The known-UIDs parameter is left out: the cursor's
UID set can be too long for one command line (Dovecot refuses lines over 64 KB), and
without it the server reports every expunge since the mod-sequence, a superset the caller
filters anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_fetch_response

from crmsync.connectors.imap.cursor import parse_uid_set
from crmsync.connectors.imap.fetch import flags_of
from crmsync.connectors.imap.response import FastFetchClient
from crmsync.connectors.imap.session import FolderState, folder_errors, folder_state


@dataclass(frozen=True, slots=True)
class Resync:
    """What a QRESYNC EXAMINE reported besides the folder's state.

    :param vanished: UIDs expunged since the given mod-sequence (maybe more: see module).
    :param flags: UID → flags of every message whose mod-sequence moved since then,
        new messages included.
    """

    vanished: frozenset[int] = frozenset()
    flags: Mapping[int, tuple[str, ...]] = field(default_factory=dict)


def is_enabled(client: FastFetchClient) -> bool:
    """Return whether this session may send QRESYNC parameters (ENABLE QRESYNC took)."""
    return b"QRESYNC" in client.enabled


def examine_qresync(
    client: FastFetchClient, folder: str, uidvalidity: int, modseq: int
) -> tuple[FolderState, Resync]:
    """EXAMINE ``folder`` with QRESYNC parameters and return its state and the changes.

    :param uidvalidity: the UIDVALIDITY ``modseq`` belongs to.
    :param modseq: the HIGHESTMODSEQ up to which changes are known.
    :raises UserError: the folder does not exist (or cannot be selected).
    """
    imap = client._imap  # noqa: SLF001 - imapclient cannot send SELECT parameters
    # As imaplib's select: only this answer's responses, and no READ-ONLY complaint.
    imap.untagged_responses = {}
    imap.is_readonly = True
    name = client._normalise_folder(folder)  # noqa: SLF001 - imapclient's quoting and UTF-7
    with folder_errors(folder):
        typ, data = imap._simple_command(  # noqa: SLF001
            "EXAMINE", name, f"(QRESYNC ({uidvalidity} {modseq}))")
        if typ != "OK":
            imap.state = "AUTH"  # as imaplib: a failed SELECT leaves no folder selected
            raise IMAPClientError(f"examine failed: {data[0]!r}")
    imap.state = "SELECTED"
    untagged = imap.untagged_responses
    vanished = untagged.pop("VANISHED", [])
    fetched = untagged.pop("FETCH", [])
    state = folder_state(client._process_select_response(untagged))  # noqa: SLF001
    return state, Resync(_vanished_uids(vanished), _changed_flags(client, fetched))


def _vanished_uids(lines: list[bytes]) -> frozenset[int]:
    """Return the UIDs of ``VANISHED (EARLIER) <set>`` lines (imaplib's data after the name)."""
    uids: set[int] = set()
    for line in lines:
        text = line.decode("ascii")
        if text.upper().startswith("(EARLIER)"):
            text = text[len("(EARLIER)"):]
        uids.update(parse_uid_set(text.strip()))
    return frozenset(uids)


def _changed_flags(client: FastFetchClient, lines: list[bytes]) -> dict[int, tuple[str, ...]]:
    """Return UID → flags of the ``FETCH (UID FLAGS MODSEQ)`` lines (QRESYNC includes UID)."""
    if not lines:
        return {}
    parsed = parse_fetch_response(lines, client.normalise_times, uid_is_key=False)
    return {
        int(data[b"UID"]): flags_of(data)
        for data in parsed.values()
        if isinstance(data.get(b"UID"), int)
    }
