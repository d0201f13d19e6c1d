"""The order of a conversation does not depend on the order its mails were stored in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from crmsync.mapping.conversations import (
    ConversationMember,
    conversation_groups,
    conversation_order,
    needs_rethread,
    predecessors,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _mail(n: int, minutes: int, refs: tuple[int, ...] = (), conv: str | None = None
          ) -> ConversationMember:
    own = {f"<m{n}@x>"} | ({f"conv:{conv}"} if conv else set())
    return ConversationMember(n, T0 + timedelta(minutes=minutes), f"mid:<m{n}@x>",
                              frozenset(own), frozenset(f"<m{r}@x>" for r in refs))



def test_a_reply_dated_before_its_parent_still_comes_after_it() -> None:
    # A skewed clock dates the reply first; its headers say otherwise, and headers win.
    parent, reply = _mail(1, 10), _mail(2, 0, refs=(1,))
    assert conversation_order([reply, parent]) == [1, 2]
    assert predecessors([reply, parent])[2] == [(1, True)]


def test_a_cycle_of_hostile_headers_is_broken_by_date() -> None:
    a, b = _mail(1, 0, refs=(2,)), _mail(2, 5, refs=(1,))
    assert conversation_order([b, a]) == [1, 2]


def test_provider_conversation_passes_links_forward_in_date_order_only() -> None:
    first, later = _mail(1, 0, conv="c"), _mail(2, 5, conv="c")
    assert predecessors([later, first]) == {1: [], 2: [(1, False)]}


def test_a_mail_stored_before_its_parent_needs_rethreading() -> None:
    # ids grow with storage: the reply (1) was stored before its parent (2).
    assert needs_rethread([_mail(1, 5, refs=(2,)), _mail(2, 0)])
    assert not needs_rethread([_mail(1, 0), _mail(2, 5, refs=(1,))])


THREAD = [(0, ()), (10, (0,)), (20, (0, 1)), (15, (0,)), (30, (2,)), (5, ())]


@given(st.permutations(range(len(THREAD))))
def test_order_and_inheritance_are_the_same_for_every_storage_order(perm: list[int]) -> None:
    # Store the mails in any order (ids follow storage order): each mail is placed and
    # inherits from the same mails, named by Message-ID.
    def build(storage: list[int]) -> tuple[list[ConversationMember], dict[int, int]]:
        ids = {mail: n + 1 for n, mail in enumerate(storage)}
        members = []
        for mail in storage:
            minutes, refs = THREAD[mail]
            member = _mail(mail, minutes, refs, conv="c" if mail == 5 else None)
            members.append(ConversationMember(ids[mail], member.occurred_at, member.dedupe_key,
                                              member.own, member.refs))
        return members, ids

    def canonical(storage: list[int]) -> tuple[list[str], dict[str, list[tuple[str, bool]]]]:
        members, _ = build(storage)
        key = {m.activity_id: m.dedupe_key for m in members}
        inherits = {key[i]: sorted((key[p], via) for p, via in ps)
                    for i, ps in predecessors(members).items()}
        return [key[i] for i in conversation_order(members)], inherits

    assert canonical(list(perm)) == canonical(list(range(len(THREAD))))
    members, _ = build(list(perm))
    assert len(conversation_groups(members)) == 2  # mail 5 shares no key with the thread
