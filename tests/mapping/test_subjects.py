import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crmsync.mapping.subjects import normalize_subject, subject_key

_PREFIXES = st.sampled_from(
    ["Re: ", "RE：", "Fwd: ", "AW: ", "回复：", "Re[2]: ", "TR : ", "[users] ", "[EXTERNAL]"]
)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("RE: FW: AW: hi", "hi"),
        ("回复：答复: 转发：报价", "报价"),
        ("Re[2]: x", "x"),
        ("Re(3): x", "x"),
        ("RE：x", "x"),
        ("re:Re:RE: x", "x"),
        ("Fwd: Fw: x", "x"),
        ("WG: SV: VS: TR: RIF: R: x", "x"),
        ("Antw: Doorst: x", "x"),
        ("回覆：轉寄：x", "x"),
        ("返信: 転送: 会議", "会議"),
        ("TR : Devis", "Devis"),
        ("[users] Re: [users] Re: release", "release"),
        ("[EXTERNAL] RE: Pricing", "Pricing"),
        # a case token is what the case rules thread on: kept
        ("Re: [CASE-000042] Printer broken", "[CASE-000042] Printer broken"),
        ("[#42] x", "[#42] x"),
        # a tag that is the whole subject is the subject
        ("[users]", "[users]"),
        # whitespace collapses; case is kept
        ("  Quarterly \t Report\r\n ", "Quarterly Report"),
        # words that merely start like markers stay
        ("Review: Q3 numbers", "Review: Q3 numbers"),
        ("Resume attached", "Resume attached"),
        ("Re:", ""),
        ("", ""),
    ],
)
def test_normalize_subject(subject: str, expected: str) -> None:
    # Reply/forward markers in many languages and list tags are stripped.
    assert normalize_subject(subject) == expected


def test_subject_key_ignores_case_and_markers() -> None:
    # Replies compare equal to the mail they answer.
    assert subject_key("RE: Quarterly REPORT") == subject_key("quarterly report")


@given(st.text())
def test_normalize_subject_is_idempotent(subject: str) -> None:
    # Normalizing twice is normalizing once, for any text.
    once = normalize_subject(subject)
    assert normalize_subject(once) == once


@given(st.lists(_PREFIXES, max_size=6), st.text(alphabet="abc xyz", min_size=1))
def test_stacked_prefixes_strip_to_the_same_key(prefixes: list[str], tail: str) -> None:
    # However many markers and list tags a thread accumulates, the subject is the same.
    assume(normalize_subject(tail))
    assert normalize_subject("".join(prefixes) + tail) == normalize_subject(tail)
