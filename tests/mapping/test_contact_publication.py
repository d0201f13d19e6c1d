"""The CRM contact folder's decision table (crmsync.mapping.contact_publication)."""

from __future__ import annotations

import pytest

from crmsync.connectors.base import ContactCard
from crmsync.connectors.contact_folders import StoredContact
from crmsync.mapping.contact_publication import (
    Action,
    Wanted,
    Written,
    card_digest,
    plan_publication,
)


def card(title: str = "CTO", email: str = "tom@acme.example") -> ContactCard:
    return ContactCard(item_id="crm-c-2", folder="CRM", display_name="Tom Becker",
                       emails=(email,), given_name="Tom", surname="Becker", job_title=title)


def stored(key: str, title: str = "CTO", remote: str = "r1") -> StoredContact:
    return StoredContact(remote, key, card(title))


WRITTEN = Written(2, "r1", "k1", card_digest(card()))
CASES = [
    # new in scope: created
    ([Wanted(2, card())], [], {}, [Action("create", 2)]),
    # written, unchanged on both sides: nothing
    ([Wanted(2, card())], [WRITTEN], {"r1": stored("k1")}, []),
    # the CRM changed: written again at the version seen
    ([Wanted(2, card("CEO"))], [WRITTEN], {"r1": stored("k1")},
     [Action("update", 2, "r1", "k1")]),
    # edited in the folder: suggested, the folder keeps the edit
    ([Wanted(2, card())], [WRITTEN], {"r1": stored("k2", "Boss")},
     [Action("suggest", 2, "r1", "k2")]),
    # edited there and changed in the CRM: suggested first, then the CRM's written
    ([Wanted(2, card("CEO"))], [WRITTEN], {"r1": stored("k2", "Boss")},
     [Action("suggest", 2, "r1", "k2"), Action("update", 2, "r1", "k2")]),
    # left the scope: removed from the folder
    ([], [WRITTEN], {"r1": stored("k1")}, [Action("remove", 2, "r1", "k1")]),
    # gone from the CRM (erased): removed from the folder
    ([], [Written(None, "r1", "k1", "x")], {"r1": stored("k1")},
     [Action("remove", None, "r1", "k1")]),
    # deleted by the rep, still in scope: written again
    ([Wanted(2, card())], [WRITTEN], {}, [Action("forget", 2, "r1"), Action("create", 2)]),
    # deleted by the rep and out of scope: only forgotten
    ([], [WRITTEN], {}, [Action("forget", 2, "r1")]),
    # written before a crash lost our record: taken back by address, not written twice
    ([Wanted(2, card())], [], {"r9": stored("k9", remote="r9")},
     [Action("adopt", 2, "r9", "k9"), Action("update", 2, "r9", "k9")]),
]


@pytest.mark.parametrize(("wanted", "written", "folder", "expected"), CASES)
def test_plan_publication(wanted, written, folder, expected) -> None:
    assert plan_publication(wanted, written, folder) == expected
