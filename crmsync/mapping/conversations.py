"""The order of a conversation's mails, whatever order they arrived in.

A first sync lists newest first, so a reply is often stored before the mail it answers.
Thread inheritance must not depend on that: a mail inherits from the mails *before* it in
its conversation, and "before" is decided here, from the mails alone.

- A mail that another one names in In-Reply-To/References comes before it (header edge,
  the strong kind: ``via_headers=True``), even when a skewed clock dates it later.
- Otherwise mails sharing the provider's conversation id are ordered by date, then by
  dedupe key, so that ties are broken the same way on every run (``via_headers=False``).

Pure: no I/O; the engine loads :class:`ConversationMember` rows and applies the result.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from crmsync.mapping.evidence import ThreadLink

__all__ = [
    "ConversationMember",
    "best_thread_links",
    "conversation_groups",
    "conversation_order",
    "needs_rethread",
    "predecessors",
]


@dataclass(frozen=True, slots=True)
class ConversationMember:
    """One stored mail of a conversation, as the ordering needs it.

    :param activity_id: its activity (ids grow in the order mails were stored).
    :param occurred_at: UTC.
    :param dedupe_key: breaks ties of equal dates, the same on every run.
    :param own: keys it is found by: its ``<Message-ID>`` and ``conv:<id>``.
    :param refs: the ``<Message-ID>``s it replies to or references.
    """

    activity_id: int
    occurred_at: datetime
    dedupe_key: str
    own: frozenset[str]
    refs: frozenset[str]

    @property
    def conversations(self) -> frozenset[str]:
        return frozenset(key for key in self.own if key.startswith("conv:"))


def conversation_groups(members: Iterable[ConversationMember]
                        ) -> list[list[ConversationMember]]:
    """Split ``members`` into conversations: mails joined, directly or not, by a shared key.

    A key is a Message-ID one holds and another references (or both reference), or a
    provider conversation id; never the subject.
    """
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    members = list(members)
    for member in members:
        keys = [f"id:{member.activity_id}", *member.own, *member.refs]
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])
    groups: dict[str, list[ConversationMember]] = {}
    for member in members:
        groups.setdefault(root(f"id:{member.activity_id}"), []).append(member)
    return list(groups.values())


def conversation_order(members: Sequence[ConversationMember]) -> list[int]:
    """Return the activity ids with every mail after the mails it references, else by date.

    A topological order of the header edges, taking the earliest (date, dedupe key) among
    the mails whose ancestors are placed; a cycle (hostile headers) is broken by date.
    """
    by_id = {m.activity_id: m for m in members}
    parents = {m.activity_id: _header_parents(m, members) for m in members}
    waiting = {i: len(p) for i, p in parents.items()}
    children: dict[int, list[int]] = {i: [] for i in by_id}
    for child, ps in parents.items():
        for parent in ps:
            children[parent].append(child)
    ready = [(_rank(by_id[i]), i) for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while len(order) < len(by_id):
        if not ready:  # a cycle: take the earliest mail still waiting
            i = min((i for i in by_id if i not in order and waiting[i] > 0),
                    key=lambda i: _rank(by_id[i]))
            waiting[i] = 0
            heapq.heappush(ready, (_rank(by_id[i]), i))
        _, current = heapq.heappop(ready)
        if current in order:
            continue
        order.append(current)
        for child in children[current]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (_rank(by_id[child]), child))
    return order


def predecessors(members: Sequence[ConversationMember]) -> dict[int, list[tuple[int, bool]]]:
    """Return, per activity id, the mails it inherits from: ``(activity id, via_headers)``.

    Those it references (by header), and those before it in :func:`conversation_order`
    that share its provider conversation id.
    """
    by_id = {m.activity_id: m for m in members}
    position = {i: n for n, i in enumerate(conversation_order(members))}
    result: dict[int, list[tuple[int, bool]]] = {}
    for member in members:
        header = set(_header_parents(member, members))
        found = [(p, True) for p in sorted(header, key=position.__getitem__)]
        shared = member.conversations
        if shared:
            found += [
                (other.activity_id, False)
                for other in sorted(members, key=lambda o: position[o.activity_id])
                if other.activity_id not in header and other.activity_id != member.activity_id
                and position[other.activity_id] < position[member.activity_id]
                and other.conversations & shared
            ]
        result[member.activity_id] = found
    assert set(result) == set(by_id)
    return result


def needs_rethread(members: Sequence[ConversationMember]) -> bool:
    """Whether a mail was stored before one it inherits from (its links may be stale)."""
    return any(
        parent > child
        for child, parents in predecessors(members).items()
        for parent, _ in parents
    )


def best_thread_links(links: Iterable[ThreadLink]) -> list[ThreadLink]:
    """Return one link per target: a person's before automation's, headers before ids."""
    found: dict[tuple[str, int], ThreadLink] = {}
    for link in links:
        current = found.get((link.kind, link.target_id))
        if current is None or (link.by_person and not current.by_person):
            found[(link.kind, link.target_id)] = link
        elif link.by_person == current.by_person and link.via_headers and not current.via_headers:
            found[(link.kind, link.target_id)] = link
    return list(found.values())


def _header_parents(member: ConversationMember, members: Sequence[ConversationMember]
                    ) -> list[int]:
    return [
        other.activity_id for other in members
        if other.activity_id != member.activity_id and other.own & member.refs
    ]


def _rank(member: ConversationMember) -> tuple[datetime, str, int]:
    return member.occurred_at, member.dedupe_key, member.activity_id
