"""Push: IDLE (RFC 2177) on the selected folder, NOTIFY (RFC 5465) on several at once.

IDLE: https://www.rfc-editor.org/rfc/rfc2177; NOTIFY:
https://www.rfc-editor.org/rfc/rfc5465. IDLE reports changes of the selected folder
only, so watching N folders that way takes N connections. NOTIFY names the folders to
watch on one connection::

    C: A05 NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))
           (mailboxes (INBOX "Work") (MessageNew MessageExpunge FlagChange))
    C: A06 IDLE
    S: * STATUS "Work" (MESSAGES 4 UIDNEXT 5 UNSEEN 1 HIGHESTMODSEQ 9)

Events of a watched folder that is not selected come as ``* STATUS``; those of the
selected folder (if the session has one) as EXISTS/EXPUNGE/FETCH, as under IDLE.
imapclient has no NOTIFY, and imaplib refuses commands it does not know, so NOTIFY SET
goes through imapclient's raw command path (``_raw_command``, which also logs it).
"""

from __future__ import annotations

from collections.abc import Sequence

from imapclient import IMAPClient

#: what the sync picks up: new mail, expunges, flag changes (CONDSTORE sessions)
EVENTS = b"(MessageNew MessageExpunge FlagChange)"
#: untagged responses that say a watched folder changed
_COUNTED = (b"EXISTS", b"EXPUNGE", b"FETCH")


def idle(client: IMAPClient, timeout: float) -> bool:
    """IDLE for at most ``timeout`` seconds; return whether the server reported a change.

    Responses that arrive between the wait and DONE count too (``idle_done`` returns them).
    """
    client.idle()
    try:
        responses = list(client.idle_check(timeout=timeout))
    finally:
        _text, late = client.idle_done()
    return any(is_change(response) for response in [*responses, *late])


def notify_set(client: IMAPClient, folders: Sequence[str]) -> None:
    """Ask for the events of ``folders`` (and of the selected folder) on this session.

    Send it once per session and folder list, not before every wait: Dovecot 2.3 drops
    the first event after a repeated NOTIFY SET once it has delivered one (seen against
    2.3.19; a SET replaces the previous one, so sending it again should be harmless).
    """
    names = b" ".join(_mailbox(client, folder) for folder in folders)
    argument = b"SET (selected " + EVENTS + b") (mailboxes (" + names + b") " + EVENTS + b")"
    typ, data = client._raw_command(b"NOTIFY", [argument], uid=False)  # noqa: SLF001
    client._checkok("notify", typ, data)  # noqa: SLF001 - raises on NO, as imapclient's commands


def is_change(response: object) -> bool:
    """Return whether an untagged response (as imapclient parses it) reports a change.

    ``* n EXISTS``, ``* n EXPUNGE`` and ``* n FETCH`` for the selected folder;
    ``* VANISHED <uids>``, EXPUNGE's form once QRESYNC is enabled; ``* STATUS <folder>
    (...)``, a NOTIFY event of a watched folder.
    """
    if not isinstance(response, tuple) or len(response) < 2:
        return False
    return response[0] in (b"VANISHED", b"STATUS") or response[1] in _COUNTED


def _mailbox(client: IMAPClient, folder: str) -> bytes:
    """Return ``folder`` as a NOTIFY mailbox argument: modified UTF-7, quoted."""
    name = client._normalise_folder(folder)  # noqa: SLF001 - imapclient's own quoting
    return name if isinstance(name, bytes) else name.encode("ascii")
