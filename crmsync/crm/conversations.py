"""Conversations as stored: the thread keys that join a reply to the mail it answers.

Every stored mail holds its own keys (its Message-ID, ``conv:<provider conversation id>``)
and ``ref:<id>`` for each mail it answers or references
(:class:`~crmsync.crm.links.ActivityThreadKey`). These queries find a conversation's
members from any of them, in bounded IN lists, for the engine to settle its links.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.links import ActivityThreadKey
from crmsync.crm.models import Activity
from crmsync.mapping.conversations import ConversationMember

#: prefix of the stored thread key naming a mail an activity replies to or references
REF = "ref:"
#: rounds of the conversation search (a References header names the whole chain, so
#: one round finds it; In-Reply-To-only chains need one round per level)
MAX_ROUNDS = 4
#: keys per IN (...) list: SQLite's limit on bound parameters is 32766
CHUNK = 5000


def find_conversation_keys(session: Session, search: set[str]) -> dict[int, set[str]]:
    """Return the stored keys of every activity joined by a key to the ``search`` keys.

    A parent's ``<id>`` finds the replies stored with ``ref:<id>``; a reply's ``ref:<id>``
    finds its parent; ``conv:<id>`` finds the provider conversation's members; and so on
    from what was found, for at most :data:`MAX_ROUNDS` rounds.
    """
    found: dict[int, set[str]] = {}
    search = {k for key in search for k in search_keys(key)}
    for _ in range(MAX_ROUNDS):
        new: dict[int, set[str]] = defaultdict(set)
        for chunk in chunks(sorted(search)):
            wanted = select(ActivityThreadKey.activity_id).where(ActivityThreadKey.key.in_(chunk))
            for activity_id, key in session.execute(
                select(ActivityThreadKey.activity_id, ActivityThreadKey.key)
                .where(ActivityThreadKey.activity_id.in_(wanted))
            ):
                if activity_id not in found:
                    new[activity_id].add(key)
        if not new:
            break
        found.update(new)
        search = {k for keys in new.values() for key in keys for k in search_keys(key)} - search
    return found


def holders_of(session: Session, keys: Iterable[str]) -> Iterator[Any]:
    """Yield (key, activity id) for every stored thread key among ``keys``."""
    for chunk in chunks(sorted(set(keys))):
        yield from session.execute(  # rows unpack as (key, activity id)
            select(ActivityThreadKey.key, ActivityThreadKey.activity_id)
            .where(ActivityThreadKey.key.in_(chunk))
        )


def search_keys(key: str) -> tuple[str, ...]:
    """Keys under which the members next to the holder of ``key`` are stored."""
    if key.startswith("conv:"):
        return (key,)
    mid = key.removeprefix(REF)
    return mid, f"{REF}{mid}"


def chunks(keys: list) -> Iterable[list]:
    """Split ``keys`` into IN lists of at most :data:`CHUNK`."""
    for start in range(0, len(keys), CHUNK):
        yield keys[start:start + CHUNK]


def members_of(session: Session, keys: dict[int, set[str]]) -> list[ConversationMember]:
    """Return the mails among ``keys``' activities, with what ordering needs."""
    if len(keys) < 2:
        return []
    members = []
    for chunk in chunks(sorted(keys)):
        for activity_id, occurred_at, dedupe_key in session.execute(
            select(Activity.id, Activity.occurred_at, Activity.dedupe_key)
            .where(Activity.id.in_(chunk), Activity.kind == "email")
        ):
            held = keys[activity_id]
            members.append(ConversationMember(
                activity_id, occurred_at, dedupe_key,
                own=frozenset(k for k in held if not k.startswith(REF)),
                refs=frozenset(k.removeprefix(REF) for k in held if k.startswith(REF)),
            ))
    return members
