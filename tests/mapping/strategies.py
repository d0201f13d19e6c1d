"""Hypothesis strategies for header text as real mail delivers it."""

from __future__ import annotations

import base64

from hypothesis import strategies as st

_CHARSETS = ("utf-8", "gb2312", "gbk", "big5", "shift_jis", "iso-8859-1", "koi8-r", "x-bogus")


@st.composite
def encoded_words(draw: st.DrawFn) -> str:
    """An RFC 2047 word with random bytes under a random (possibly wrong) label."""
    charset = draw(st.sampled_from(_CHARSETS))
    payload = draw(st.binary(max_size=24))
    if draw(st.booleans()):
        return f"=?{charset}?B?{base64.b64encode(payload).decode()}?="
    quoted = "".join(f"={byte:02X}" for byte in payload)
    return f"=?{charset}?Q?{quoted}?="


#: Any text a connector might hand over: plain Unicode, encoded words, and raw 8-bit bytes
#: smuggled in through surrogateescape or Latin-1.
header_text = st.one_of(
    st.text(),
    st.lists(st.one_of(encoded_words(), st.text(max_size=8)), max_size=6).map(" ".join),
    st.binary().map(lambda data: data.decode("utf-8", "surrogateescape")),
    st.binary().map(lambda data: data.decode("latin-1")),
)
