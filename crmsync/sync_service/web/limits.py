"""Limits on what a request may carry, checked before any route reads it.

Every route of the app is reachable by someone untrusted (the Graph webhook by anyone),
so the shape of a request is bounded in one place: its body size (Flask's
``MAX_CONTENT_LENGTH``: 413), the nesting depth of a JSON body (Python's parser recurses,
and 100,000 nested arrays end in a ``RecursionError``: 400 here), and NUL characters in
the path, the query or a JSON string (PostgreSQL refuses them in text, which would be a
500 deep inside a query: 400 here). A refused request changes nothing and gets a short
JSON error (the API's own error shape).
"""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.exceptions import BadRequest

#: a JSON string literal, escapes included (its brackets are text, not nesting)
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
#: ``\u0000`` as a JSON escape, not preceded by an escaped backslash
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def install_limits(app: Flask) -> None:
    """Bound every request of ``app`` (see the module docstring for why each limit)."""
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default: unlimited
        app.config["MAX_CONTENT_LENGTH"] = int(app.config.get("MAX_REQUEST_BYTES", 1 << 20))
    max_depth = int(app.config.get("MAX_JSON_DEPTH", 32))

    @app.before_request
    def _check_request_shape() -> None:
        if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
            raise BadRequest("NUL characters are not allowed")
        if request.content_length == 0 or not request.is_json:
            return
        body = request.get_data(cache=True)  # bounded by MAX_CONTENT_LENGTH (413)
        if b"\x00" in body or _ESCAPED_NUL.search(body):
            raise BadRequest("NUL characters are not allowed")
        if json_depth(body) > max_depth:
            raise BadRequest(f"JSON nested deeper than {max_depth} levels")


def json_depth(body: bytes) -> int:
    """Return the deepest nesting of arrays and objects in a JSON text, without parsing it.

    Brackets inside strings do not count; malformed text is left to the parser.
    """
    depth = deepest = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub(b'""', body)):
        if match.group() in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest
