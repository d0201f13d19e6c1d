import pytest
from hypothesis import given

from crmsync.mapping.addresses import decode_header_text
from tests.mapping.strategies import header_text

GB2312_ZHANG_SAN = "=?gb2312?B?1cXI/Q==?="


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # GB2312, as Chinese mailers write it
        (GB2312_ZHANG_SAN, "张三"),
        ("=?GB2312?B?sai827Wl?=", "报价单"),
        # GB2312 label carrying a GBK-only character (镕): decoded as GB18030
        ("=?gb2312?B?1uzpRrv5?=", "朱镕基"),
        ("=?gbk?Q?=E9F?=", "镕"),
        ("=?big5?B?pKSk5bT6uNU=?=", "中文測試"),
        ("=?big5?B?pl7C0KFHs/i7+Q==?=", "回覆：報價"),
        # Big5 label carrying Hong Kong (HKSCS) characters
        ("=?big5?B?nfWd+A==?=", "嗰啲"),
        ("=?shift_jis?B?k/qWe4zqgsyDZYNYg2c=?=", "日本語のテスト"),
        ("=?iso-2022-jp?b?GyRCRnxLXDhsJE4lRiU5JUgbKEI=?=", "日本語のテスト"),
        ("=?iso-8859-1?q?Andr=E9_M=FCller?=", "André Müller"),
        ("=?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=", "Grüße aus Köln"),
        ("=?iso-8859-15?q?Zo=EB?=", "Zoë"),
        ("=?koi8-r?B?8NLJ18XU?=", "Привет"),
        ("=?utf-8?q?Ana_Ruiz_N=C3=BA=C3=B1ez?=", "Ana Ruiz Núñez"),
        ("=?UTF-8?B?5Zue5aSN77ya5oql5Lu3?=", "回复：报价"),
        # Latin-1 label on UTF-8 bytes (a right single quote): UTF-8 wins
        ("=?iso-8859-1?q?it=E2=80=99s?=", "it’s"),
        # an RFC 2231 language suffix
        ("=?utf-8*en?q?hello?=", "hello"),
        # a UTF-8 character split across two words is joined before decoding
        ("=?utf-8?Q?=E5=BC?= =?utf-8?Q?=A0?=", "张"),
        # whitespace between encoded words is folding; around them it is content
        ("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"),
        ("Re: =?utf-8?q?Caf=C3=A9?= au lait", "Re: Café au lait"),
        # unknown charsets: UTF-8 when valid, else Latin-1
        ("=?x-unknown?q?caf=C3=A9?=", "café"),
        ("=?x-unknown?q?caf=E9?=", "café"),
        # a non-text codec name is not obeyed (no zlib bombs)
        ("=?zlib?q?abc?=", "abc"),
        # sloppy base64: missing padding, stray characters
        ("=?utf-8?B?5byg5LiJ?=", "张三"),
        ("=?utf-8?B?5byg5Li?=", "张\ufffd"),
        # not an encoded word: left as written
        ("=?utf-8?X?abc?=", "=?utf-8?X?abc?="),
        # folding whitespace and control characters collapse
        ("Quarterly\r\n\treport\x00 draft  ", "Quarterly report draft"),
        (None, ""),
        ("", ""),
    ],
)
def test_decode_header_text_samples(raw: str | None, expected: str) -> None:
    # Real mailers' encoded words decode to what the sender typed.
    assert decode_header_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # 8-bit bytes smuggled via surrogateescape: UTF-8 ...
        (b"Jos\xc3\xa9".decode("utf-8", "surrogateescape"), "José"),
        # ... then GB18030 ...
        ("中文".encode("gb18030").decode("utf-8", "surrogateescape"), "中文"),
        # ... then Windows-1252
        (b"Caf\xe9".decode("utf-8", "surrogateescape"), "Café"),
        # 8-bit bytes smuggled via Latin-1
        ("José".encode().decode("latin-1"), "José"),
        ("报价单".encode("gb18030").decode("latin-1"), "报价单"),
        # genuine Latin-1 text is left alone, not read as GB18030
        ("Müller", "Müller"),
        ("Grüße aus Köln", "Grüße aus Köln"),
    ],
)
def test_decode_header_text_recovers_raw_bytes(raw: str, expected: str) -> None:
    # Connectors that could not decode 8-bit headers still yield readable names.
    assert decode_header_text(raw) == expected


@given(header_text)
def test_decode_header_text_never_raises_and_is_idempotent(raw: str) -> None:
    # Any input decodes, and decoding decoded text changes nothing.
    decoded = decode_header_text(raw)
    assert decode_header_text(decoded) == decoded
    assert decoded == decoded.strip(" ")
    assert "\n" not in decoded and "\x00" not in decoded
