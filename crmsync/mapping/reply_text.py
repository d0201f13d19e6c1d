"""The new text of a mail: what the writer typed, without quoted history or signature.

A case's description is the first mail's new text (docs/export.md). Splitting replies
is a solved, language-dependent problem, so it is left to ``mail-parser-reply`` (the
maintained multilingual successor of GitHub's email_reply_parser, with Chinese,
Japanese and European "On ... wrote:" headers and signature rules).
"""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

__all__ = ["new_text"]

#: languages whose reply headers and signatures the parser recognizes here
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "zh", "ja")
#: longest body handed to the parser: its regexes are not linear on hostile input
MAX_PARSE_CHARS = 100_000
_BLANK_RUN = re.compile(r"\n{3,}")


def new_text(body: str | None) -> str:
    """Return the newest part of ``body`` with quoted history and signature removed.

    Falls back to the stripped body when the parser finds nothing (a mail that is all
    quote, or text it cannot split), so a description is never lost.

    :param body: the decoded text body, or ``None``.
    """
    if not body:
        return ""
    text = body.replace("\r\n", "\n")[:MAX_PARSE_CHARS]
    try:
        replies = EmailReplyParser(languages=list(LANGUAGES)).read(text).replies
    except Exception:  # noqa: BLE001 - a parser bug must not lose the description
        replies = []
    latest = replies[0].body.strip() if replies else ""
    return _BLANK_RUN.sub("\n\n", latest or text.strip())
