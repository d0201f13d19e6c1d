"""A faster parser for the FETCH responses crmsync asks for, same results as imapclient's.

imapclient's lexer walks every response byte through a Python generator; on a backfill
it was a third of crmsync's CPU. This module tokenizes each line of imaplib's raw
answer with one regular expression instead, builds the same atoms (``int``, ``bytes``,
``None``, tuples, literals) and then applies imapclient's own conversions (INTERNALDATE,
ENVELOPE, BODYSTRUCTURE → ``BodyData``), so the answer is identical, dict for dict.

Anything this tokenizer does not recognise exactly as imapclient's lexer would (control
characters, ``%``, a quote glued to a word, a stray ``)``, unterminated brackets or
quotes, a literal marker without its literal) raises :class:`_Unusual`, and the whole
response is handed to imapclient's parser, which then decides, errors included.

The session is still imapclient's: :class:`FastFetchClient` only swaps the parser in
``fetch`` (the rest of its ``fetch`` is imapclient's, step for step; the tests compare
both clients' answers on a live Dovecot, so a drift in imapclient shows up there).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from imapclient import IMAPClient
from imapclient import response_parser as slow
from imapclient.imapclient import join_message_ids, seq_to_parenstr_upper
from imapclient.response_types import BodyData
from imapclient.util import to_ints

#: one token of imapclient's lexer after optional whitespace, as groups: ``(``, ``)``, a
#: quoted string (quotes included), a word (word characters and ``[...]`` groups, which
#: may hold spaces and parentheses) with a quote glued to it, or any other character
_TOKEN = re.compile(
    rb'[ \t\r\n]*(?:(\()|(\))|("(?:[^"\\]|\\.)*+")'
    rb'|((?:[^\x00-\x20()%"\[]|\[[^\]]*\])++)(")?|([^ \t\r\n]))',
    re.DOTALL,
)
_ESCAPE = re.compile(rb'\\(.)', re.DOTALL)

Atom = Any


class _Unusual(Exception):
    """The fast path cannot vouch for the same result: let imapclient parse it."""


def _unescape(match: re.Match[bytes]) -> bytes:
    # imapclient keeps the backslash unless it escapes a backslash or a quote
    char = match.group(1)
    return char if char in (b"\\", b'"') else match.group(0)


def _word(token: bytes, literal: bytes | None) -> Atom:
    """Return the atom of an unquoted token, as imapclient's ``atom`` does."""
    if token == b"NIL":
        return None
    if token[:1] == b"{":
        try:
            size = int(token[1:-1])
        except ValueError:
            raise _Unusual from None
        if literal is None or len(literal) != size:
            raise _Unusual
        return literal
    if token.isdigit() and (token[:1] != b"0" or len(token) == 1):
        return int(token)
    return token


def parse_atoms(text: Sequence[bytes | tuple[bytes, bytes]]) -> list[Atom]:
    """Return the top-level atoms of imaplib's untagged data (lines and literals).

    :raises _Unusual: anything the fast path does not handle exactly like imapclient.
    """
    stack: list[list[Atom]] = [[]]
    for record in text:
        if isinstance(record, tuple):  # a line ending in a literal marker, and the literal
            if len(record) != 2 or not isinstance(record[0], bytes) \
                    or not isinstance(record[1], bytes) or not record[0].endswith(b"}"):
                raise _Unusual
            line, literal = record
        elif isinstance(record, bytes):
            line, literal = record, None
        else:
            raise _Unusual
        top = stack[-1]
        for opening, closing, quoted, word, glued, other in _TOKEN.findall(line):
            if word:
                if glued:  # a quote right after a word: imapclient refuses it
                    raise _Unusual
                top.append(_word(word, literal))
            elif opening:
                top = []
                stack.append(top)
            elif closing:
                if len(stack) == 1:
                    raise _Unusual
                done = tuple(stack.pop())
                top = stack[-1]
                top.append(done)
            elif quoted:
                quoted = quoted[1:-1]
                if b"\\" in quoted:
                    quoted = _ESCAPE.sub(_unescape, quoted)
                top.append(quoted)
            else:
                raise _Unusual(other)
    if len(stack) != 1:
        raise _Unusual
    return stack[0]


def parse_fetch_response(
    text: list[Any], normalise_times: bool = True, uid_is_key: bool = True
) -> defaultdict[int, dict[bytes, Any]]:
    """Drop-in for ``imapclient.response_parser.parse_fetch_response``, faster.

    Falls back to imapclient's parser, whole, on anything unusual.
    """
    if text == [None]:
        return defaultdict()
    try:
        atoms = parse_atoms(text)
        return _fetch_dict(atoms, normalise_times, uid_is_key)
    except _Unusual:
        return slow.parse_fetch_response(text, normalise_times, uid_is_key)


def _fetch_dict(
    atoms: list[Atom], normalise_times: bool, uid_is_key: bool
) -> defaultdict[int, dict[bytes, Any]]:
    """imapclient's ``parse_fetch_response`` loop over ready atoms; oddities → imapclient."""
    parsed: defaultdict[int, dict[bytes, Any]] = defaultdict(dict)
    if len(atoms) % 2:
        raise _Unusual
    for index in range(0, len(atoms), 2):
        seq, items = atoms[index], atoms[index + 1]
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(items, tuple) \
                or len(items) % 2:
            raise _Unusual
        msg_id = seq
        data: dict[bytes, Any] = {b"SEQ": seq}
        for i in range(0, len(items), 2):
            name, value = items[i], items[i + 1]
            if not isinstance(name, bytes):
                raise _Unusual
            word = name.upper()
            if word == b"UID":
                if not isinstance(value, int):
                    raise _Unusual
                if uid_is_key:
                    msg_id = value
                else:
                    data[word] = value
            elif word == b"INTERNALDATE":
                data[word] = slow._convert_INTERNALDATE(value, normalise_times)  # noqa: SLF001
            elif word == b"ENVELOPE":
                raise _Unusual  # never asked for by crmsync: imapclient's own path
            elif word in (b"BODY", b"BODYSTRUCTURE"):
                if not isinstance(value, tuple):
                    raise _Unusual
                data[word] = BodyData.create(value)
            else:
                data[word] = value
        parsed[msg_id].update(data)
    return parsed


class FastFetchClient(IMAPClient):
    """imapclient's session, whose ``fetch`` parses with :func:`parse_fetch_response`."""

    #: the extensions ENABLE (RFC 5161) turned on for this session: QRESYNC changes what
    #: SELECT may be asked and turns EXPUNGE responses into VANISHED, so callers check it
    enabled: frozenset[bytes] = frozenset()

    def fetch(self, messages, data, modifiers=None):  # type: ignore[no-untyped-def]
        """Same as :meth:`IMAPClient.fetch`, with the faster parser."""
        if not messages:
            return {}
        args = [
            "FETCH",
            join_message_ids(messages),
            seq_to_parenstr_upper(data),
            seq_to_parenstr_upper(modifiers) if modifiers else None,
        ]
        if self.use_uid:
            args.insert(0, "UID")
        tag = self._imap._command(*args)
        typ, answer = read_fetch_answer(self._imap, tag)
        self._checkok("fetch", typ, answer)
        response = parse_fetch_response(answer, self.normalise_times, self.use_uid)
        return {
            message_id: response[message_id]
            for message_id in to_ints(messages)
            if message_id in response
        }


#: imaplib's patterns for the lines of an answer (``imaplib.Untagged_status`` etc.)
_UNTAGGED_FETCH = re.compile(rb"\* (\d+) FETCH(?: (.*))?", re.DOTALL)
_LITERAL = re.compile(rb".*{(?P<size>\d+)}$", re.ASCII)


def read_fetch_answer(imap: Any, tag: bytes) -> tuple[str, list[Any]]:
    """Read the answer to the FETCH command ``tag`` and return imaplib's result for it.

    That is ``(status, untagged FETCH data)``, exactly what imapclient's ``fetch`` gets
    from ``_command_complete`` then ``_untagged_response(..., "FETCH")``. imaplib reads
    an answer a line at a time through several regular expressions and a debug logger
    (imapclient turns imaplib's debugging on): on a backfill that was a sixth of the
    fetch side's CPU. Here a ``* n FETCH`` line takes one match; any other line is
    handled as imaplib handles it (``_get_response``), so its bookkeeping (untagged
    responses, BYE, the tagged result) stays as imaplib keeps it.
    """
    fetched: list[Any] = imap.untagged_responses.pop("FETCH", [])
    while imap.tagged_commands.get(tag) is None:
        imap._check_bye()  # noqa: SLF001 - as imaplib's _get_tagged_response does
        line = _line(imap)
        found = _UNTAGGED_FETCH.match(line)
        if found is None:
            _other_line(imap, line)
            fetched += imap.untagged_responses.pop("FETCH", [])
            continue
        seq, rest = found.groups()
        data = seq if rest is None else seq + b" " + rest
        while (literal := _LITERAL.match(data)) is not None:
            fetched.append((data, imap.read(int(literal.group("size")))))
            data = _line(imap)
        fetched.append(data)
    typ, data = imap.tagged_commands.pop(tag)
    imap._check_bye()  # noqa: SLF001
    if typ == "BAD":
        raise imap.error(f"FETCH command error: {typ} {data}")
    return typ, fetched if typ == "OK" else data


def _line(imap: Any) -> bytes:
    """imaplib's ``_get_line`` without its debug log: one line, CRLF removed."""
    line = imap.readline()
    if not line:
        raise imap.abort("socket error: EOF")
    if not line.endswith(b"\r\n"):
        raise imap.abort(f"socket error: unterminated line: {line!r}")
    return line[:-2]


def _other_line(imap: Any, line: bytes) -> None:
    """Handle a line that is not ``* n FETCH`` with imaplib's own ``_get_response``."""
    imap._get_line = lambda: _pop_first(imap, line)  # noqa: SLF001 - hand it this line
    try:
        imap._get_response()  # noqa: SLF001
    finally:
        imap.__dict__.pop("_get_line", None)  # back to the class's method


def _pop_first(imap: Any, line: bytes) -> bytes:
    """Return ``line`` once, then read on (a literal's next line) with imaplib's reader."""
    imap.__dict__.pop("_get_line", None)
    return line
