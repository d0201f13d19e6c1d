"""Turn raw header text into display text: RFC 2047 encoded words and smuggled 8-bit bytes.

Real mail is mislabelled and broken far more often than the RFCs admit, so decoding here is
lenient: it guesses rather than fails, and it never raises. The guesses follow what mail
clients do in practice (GB2312 read as its superset GB18030, ISO-8859-1 read as Windows-1252,
as the WHATWG Encoding Standard does).
"""

from __future__ import annotations

import binascii
import codecs
import re
from functools import lru_cache

__all__ = ["decode_bytes", "decode_header_text"]

#: One encoded word. Charset and payload are printable ASCII only (RFC 2047 section 2), which
#: also keeps the payload safe to ``encode("ascii")``. An RFC 2231 language suffix is skipped.
_ENCODED_WORD = re.compile(
    r"=\?([!#-'+\-0-9A-Z^-~]+)(?:\*[A-Za-z0-9\-]*)?\?([BbQq])\?([!->@-~]*)\?="
)
#: Whitespace between two encoded words is folding, not content (RFC 2047 section 6.2).
_FOLDING_GAP = re.compile(r"[ \t\r\n]*")
#: What is collapsed to one space: ASCII whitespace and C0/DEL controls (NUL, ESC ...).
_SEPARATORS = re.compile(r"[\x00-\x20\x7f]+")
_WORD = re.compile(r"[^\x00-\x20\x7f]+")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_FOREIGN_SURROGATES = re.compile(r"[\ud800-\udc7f\udd00-\udfff]")
_NON_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_IDEOGRAPH_PAIR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]{2}")
_CHINESE_TEXT = re.compile(r"[\x00-\x7f\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]*")

#: Labels real mail uses for a charset other than the one it means, to the codecs to try in
#: order. The first strict decode that succeeds wins.
_CHARSET_CANDIDATES: dict[str, tuple[str, ...]] = {
    # GB2312/GBK-labelled mail routinely carries GBK/GB18030-only characters.
    **dict.fromkeys(
        ("gb2312", "gb_2312-80", "csgb2312", "euc-cn", "gbk", "x-gbk", "cp936", "gb18030"),
        ("gb18030",),
    ),
    # Big5 mail carries Microsoft (cp950) and Hong Kong (HKSCS) extensions.
    **dict.fromkeys(("big5", "x-x-big5", "cn-big5", "csbig5"), ("big5", "cp950", "big5hkscs")),
    **dict.fromkeys(
        ("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j", "cp932"),
        ("cp932", "shift_jis_2004"),
    ),
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2"),
    **dict.fromkeys(("euc-kr", "ks_c_5601-1987", "cp949"), ("cp949",)),
    # A valid UTF-8 byte string is almost never meant as Latin-1; Latin-1 labels mean
    # Windows-1252 in practice (WHATWG); Latin-1 itself cannot fail.
    **dict.fromkeys(
        ("us-ascii", "ascii", "iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252"),
        ("utf-8", "cp1252", "latin-1"),
    ),
}
#: Text codecs Python has but no mail charset means; as a label they are treated as unknown
#: (punycode is also quadratic on hostile input).
_REFUSED_CODECS = frozenset({"idna", "punycode", "unicode-escape", "raw-unicode-escape"})
#: An unknown or refused label: UTF-8 if it is valid, else Latin-1 (which never fails).
_UNKNOWN_CHARSET = ("utf-8", "latin-1")


def decode_header_text(raw: str | None) -> str:
    """Return the display text of a raw header value; never raise.

    Decodes RFC 2047 encoded words in any charset (adjacent words in one charset are joined
    before decoding, since mailers split multi-byte characters across words), recovers raw
    8-bit bytes a connector smuggled into ``str`` (via ``surrogateescape`` or Latin-1), and
    collapses folding whitespace and control characters to single spaces.

    :param raw: the header value as the connector handed it, or ``None``.
    :returns: decoded text, stripped; ``""`` for ``None``. Decoding its result again returns
        it unchanged.
    """
    if not raw:
        return ""
    if len(raw) > _CACHED_TEXT_MAX:
        return _decode_header_text(raw)
    return _decode_header_text_cached(raw)


def _decode_header_text(raw: str) -> str:
    text = _recover_surrogate_bytes(raw)
    text = _sanitize_surrogates(_decode_encoded_words(text))
    # Repair word by word, so that collapsing separators afterwards cannot make a word
    # repairable that was not (which would break idempotence).
    text = _WORD.sub(_repair_latin1_word, text)
    return _SEPARATORS.sub(" ", text).strip(" ")


#: Subjects and display names repeat across a mailbox (threads, the same people): recent
#: answers are kept, bounded in count and in the length of what is kept.
_CACHED_TEXT_MAX = 2048
_decode_header_text_cached = lru_cache(maxsize=8192)(_decode_header_text)


def _repair_latin1_word(match: re.Match[str]) -> str:
    """Re-decode a word whose characters are all Latin-1 but whose bytes are UTF-8 or GB.

    That is what a connector leaves behind when it decoded 8-bit header bytes as Latin-1
    ("JosÃ©" for "José"). Repeats until stable, for text that was mangled twice.
    """
    word = match.group()
    while not word.isascii() and max(word) < "\u0100":
        fixed = _decode_8bit_strict(word.encode("latin-1"))
        if fixed is None:
            break
        word = fixed
    return word


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` labelled with ``charset``, trusting the label only as far as it works.

    :param data: the bytes of one encoded word run, or of a body part.
    :param charset: the label as written (any case), or ``None`` when there was none.
    :returns: the text; undecodable bytes become U+FFFD only when no candidate fits.
    """
    if charset is None:
        return _decode_unlabelled(data)
    candidates = _charset_candidates(charset)
    for codec in candidates:
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError):
            continue
    return data.decode(candidates[0], "replace")


def _charset_candidates(charset: str) -> tuple[str, ...]:
    label = charset.strip().lower()
    if label in _CHARSET_CANDIDATES:
        return _CHARSET_CANDIDATES[label]
    try:
        name = codecs.lookup(label).name
        b"x".decode(label)  # non-text codecs (base64, zlib ...) raise LookupError here
    except LookupError:
        return _UNKNOWN_CHARSET
    except UnicodeError:  # a real text codec that just cannot decode b"x" (utf-16)
        pass
    if name.replace("_", "-") in _REFUSED_CODECS:
        return _UNKNOWN_CHARSET
    return (label,)


def _decode_unlabelled(data: bytes) -> str:
    """Decode bytes with no trustworthy label: UTF-8, then GB18030, then Windows-1252."""
    text = _decode_8bit_strict(data)
    if text is not None:
        return text
    return data.decode("cp1252", "replace")


def _decode_8bit_strict(data: bytes) -> str | None:
    """Return ``data`` as UTF-8, or as GB18030 when that reads as Chinese; else ``None``.

    GB18030 decodes almost any byte pairs, so a European name in Latin-1 ("Müller") would
    come out as stray ideographs. It is accepted only when the result holds two adjacent
    ideographs and nothing but ASCII and CJK characters.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    if _IDEOGRAPH_PAIR.search(text) and _CHINESE_TEXT.fullmatch(text):
        return text
    return None


def _recover_surrogate_bytes(text: str) -> str:
    """Re-decode bytes that reached us as ``surrogateescape`` surrogates (U+DC80..U+DCFF)."""
    text = _FOREIGN_SURROGATES.sub("\ufffd", text)
    if not _SURROGATES.search(text):
        return text
    return _decode_unlabelled(text.encode("utf-8", "surrogateescape"))


def _sanitize_surrogates(text: str) -> str:
    # Some codecs (utf-7, utf-16) can yield lone surrogates, which cannot be stored or shown.
    return _SURROGATES.sub("\ufffd", text)


def _decode_encoded_words(text: str) -> str:
    """Replace every encoded word by its text; join adjacent words of one charset first."""
    out: list[str] = []
    run_charset = ""
    run_bytes = b""
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[position : match.start()]
        payload = _word_payload(match.group(2), match.group(3))
        charset = match.group(1).lower()
        if run_charset and _FOLDING_GAP.fullmatch(gap) and charset == run_charset:
            run_bytes += payload
        else:
            if run_charset:
                out.append(decode_bytes(run_bytes, run_charset))
            if not (run_charset and _FOLDING_GAP.fullmatch(gap)):
                out.append(gap)
            run_charset, run_bytes = charset, payload
        position = match.end()
    if run_charset:
        out.append(decode_bytes(run_bytes, run_charset))
    out.append(text[position:])
    return "".join(out)


def _word_payload(encoding: str, encoded: str) -> bytes:
    data = encoded.encode("ascii")
    if encoding in "Qq":
        return binascii.a2b_qp(data, header=True)
    data = _NON_BASE64.sub(b"", data)
    if len(data) % 4 == 1:  # a lone trailing sextet carries no whole byte
        data = data[:-1]
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:  # cannot happen on cleaned, padded input; keep "never raises"
        return b""
