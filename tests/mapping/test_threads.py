import pytest

from crmsync.mapping.threads import conversation_key, parse_message_ids


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<abc@host.example>", ["<abc@host.example>"]),
        ("  <abc@Host.Example>\r\n", ["<abc@Host.Example>"]),
        ("<a@x> <b@x>\r\n\t<c@x>", ["<a@x>", "<b@x>", "<c@x>"]),
        # folding inside an id
        ("<very.long.id\r\n @host>", ["<very.long.id@host>"]),
        # missing brackets
        ("abc@host.example", ["<abc@host.example>"]),
        ("a@x, b@x", ["<a@x>", "<b@x>"]),
        # Exchange's bracketed form
        ("<[a1b2c3]@exchange.example>", ["<[a1b2c3]@exchange.example>"]),
        # comments and old free-text In-Reply-To
        ("<a@x> (Ana's message of Mon, 1 Jan 2024 ana@acme.com)", ["<a@x>"]),
        ('Your message of "Mon, 1 Jan" <a@x>', ["<a@x>"]),
        # duplicates and empty brackets
        ("<a@x> <a@x> <>", ["<a@x>"]),
        ("no ids here", []),
        (None, []),
        ("", []),
    ],
)
def test_parse_message_ids(raw: str | None, expected: list[str]) -> None:
    # Ids come out as <id>, whitespace removed, case kept, in header order.
    assert parse_message_ids(raw) == expected


@pytest.mark.parametrize(
    ("message_id", "in_reply_to", "references", "provider", "expected"),
    [
        # a reply: the root is the first References id
        ("<c@x>", ["<b@x>"], ["<a@x>", "<b@x>"], "CONV1", "<a@x>"),
        # a reply whose mailer wrote no References
        ("<b@x>", ["<a@x>"], [], None, "<a@x>"),
        # the root itself
        ("<a@x>", [], [], "CONV1", "<a@x>"),
        # no Message-ID: the provider's conversation
        (None, [], [], "AAQkAGI2", "conv:AAQkAGI2"),
        # nothing: the caller falls back to a content hash
        (None, [], [], None, ""),
    ],
)
def test_conversation_key(
    message_id: str | None,
    in_reply_to: list[str],
    references: list[str],
    provider: str | None,
    expected: str,
) -> None:
    # Every mail of a thread shares the thread root as key.
    assert conversation_key(message_id, in_reply_to, references, provider) == expected


def test_root_and_replies_share_a_key() -> None:
    # The root computed from its own id equals the key of its deepest reply.
    root = conversation_key("<a@x>", [], [])
    reply = conversation_key("<b@x>", ["<a@x>"], ["<a@x>"])
    deep = conversation_key("<d@x>", ["<c@x>"], ["<a@x>", "<b@x>", "<c@x>"])
    assert root == reply == deep == "<a@x>"
