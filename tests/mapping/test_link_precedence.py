"""One precedence rule decides automatic links, whichever path links (crmsync.mapping.links)."""

from __future__ import annotations

import pytest

from crmsync.mapping.links import (
    HeldLink,
    LinkPlan,
    Replaceable,
    Target,
    every_automatic,
    keep_held,
    made_for,
    plan_links,
)
from crmsync.mapping.records import ProposedLink

PERSON = "tracked by a person"


def person(kind: str, record: int) -> HeldLink:
    return HeldLink(Target(kind, record), True, PERSON, 1.0)


def auto(kind: str, record: int, reason: str = "sender is a contact", confidence: float = 0.9
         ) -> HeldLink:
    return HeldLink(Target(kind, record), False, reason, confidence)


def proposal(kind: str, record: int, reason: str = "sender is a contact",
             confidence: float = 0.9) -> ProposedLink:
    return ProposedLink(kind, record, reason, confidence)


#: settling a conversation: only the links mail linking made are its to replace
SETTLE = made_for({(Target("opportunity", 3), "sender is a contact"),
                   (Target("account", 2), "sender is a contact")})
#: support intake: the case a support thread names is linked whatever a person chose
INTAKE: frozenset[str] = frozenset()
DEFAULT = frozenset({"opportunity", "case"})

#: (id, current, proposed, removed, replaceable, exclusive kinds, expected plan)
TABLE: list[tuple[str, list[HeldLink], list[ProposedLink], set[Target], Replaceable,
                  frozenset[str], LinkPlan]] = [
    # -- identical proposals change nothing
    ("identical proposal, merge", [auto("contact", 1)], [proposal("contact", 1)], set(),
     keep_held, DEFAULT, LinkPlan()),
    ("identical proposal, replace", [auto("contact", 1)], [proposal("contact", 1)], set(),
     every_automatic, DEFAULT, LinkPlan()),
    ("a target proposed twice keeps its first proposal", [],
     [proposal("contact", 1, "first"), proposal("contact", 1, "second")], set(),
     keep_held, DEFAULT, LinkPlan(add=(proposal("contact", 1, "first"),))),
    ("new targets are added in the order proposed", [auto("contact", 1)],
     [proposal("account", 2), proposal("contact", 1), proposal("opportunity", 3)], set(),
     keep_held, DEFAULT,
     LinkPlan(add=(proposal("account", 2), proposal("opportunity", 3)))),
    # -- a person's link is never touched
    ("a person's link is not removed when automation stops proposing it",
     [person("contact", 1)], [], set(), every_automatic, DEFAULT, LinkPlan()),
    ("a person's link is not given automation's reason or confidence",
     [person("opportunity", 3)], [proposal("opportunity", 3, "CASE token", 0.99)], set(),
     every_automatic, DEFAULT, LinkPlan()),
    ("a person's link is not doubled by an automatic one",
     [person("account", 2)], [proposal("account", 2)], set(), keep_held, DEFAULT, LinkPlan()),
    ("a replaceable-looking reason does not make a person's link replaceable",
     [HeldLink(Target("opportunity", 3), True, "sender is a contact", 0.9)], [], set(),
     SETTLE, DEFAULT, LinkPlan()),
    # -- a person's removal wins
    ("a removed target is not linked again, merge", [], [proposal("contact", 1)],
     {Target("contact", 1)}, keep_held, DEFAULT, LinkPlan()),
    ("a removed target is not linked again, replace", [auto("account", 2)],
     [proposal("account", 2), proposal("contact", 1)], {Target("contact", 1)},
     every_automatic, DEFAULT, LinkPlan()),
    ("a removal names one record: the same id of another kind is linked", [],
     [proposal("account", 1)], {Target("contact", 1)}, keep_held, DEFAULT,
     LinkPlan(add=(proposal("account", 1),))),
    ("a removal stops additions only: a held automatic link still proposed stays",
     [auto("contact", 1)], [proposal("contact", 1)], {Target("contact", 1)},
     every_automatic, DEFAULT, LinkPlan()),
    # -- a person's deal or case is exclusive
    ("a person's opportunity blocks automatic opportunities", [person("opportunity", 3)],
     [proposal("opportunity", 4), proposal("account", 2)], set(), keep_held, DEFAULT,
     LinkPlan(add=(proposal("account", 2),))),
    ("a person's case blocks automatic cases", [person("case", 5)],
     [proposal("case", 6), proposal("contact", 1)], set(), every_automatic, DEFAULT,
     LinkPlan(add=(proposal("contact", 1),))),
    ("a person's opportunity does not block a case", [person("opportunity", 3)],
     [proposal("case", 6)], set(), keep_held, DEFAULT, LinkPlan(add=(proposal("case", 6),))),
    ("a person's account does not block other accounts", [person("account", 2)],
     [proposal("account", 7)], set(), keep_held, DEFAULT,
     LinkPlan(add=(proposal("account", 7),))),
    ("an automatic opportunity does not block another", [auto("opportunity", 3)],
     [proposal("opportunity", 3), proposal("opportunity", 4)], set(), keep_held, DEFAULT,
     LinkPlan(add=(proposal("opportunity", 4),))),
    ("a person's deal blocks new deals; automation's own old deal still goes",
     [person("opportunity", 3), auto("opportunity", 4)], [proposal("opportunity", 8)], set(),
     every_automatic, DEFAULT, LinkPlan(remove=(1,))),
    ("support intake: a person's case does not block the case a thread names",
     [person("case", 5)], [proposal("case", 6, "reply on CASE-000006", 1.0)], set(),
     keep_held, INTAKE, LinkPlan(add=(proposal("case", 6, "reply on CASE-000006", 1.0),))),
    # -- automatic links no longer proposed: removed only in replace mode, if replaceable
    ("merge keeps an automatic link no longer proposed", [auto("contact", 1)], [], set(),
     keep_held, DEFAULT, LinkPlan()),
    ("replace removes an automatic link no longer proposed", [auto("contact", 1)], [], set(),
     every_automatic, DEFAULT, LinkPlan(remove=(0,))),
    ("settle removes a link of a reason mail linking gives", [auto("opportunity", 3)], [],
     set(), SETTLE, DEFAULT, LinkPlan(remove=(0,))),
    ("settle keeps a link another feature made (support intake's case)",
     [auto("case", 5, "opened CASE-000005 from this mail", 1.0)], [], set(), SETTLE, DEFAULT,
     LinkPlan()),
    ("a link kept as not replaceable still counts as held: not linked twice",
     [auto("case", 5, "opened CASE-000005 from this mail", 1.0)],
     [proposal("case", 5, "reply to a mail on case CASE-000005", 0.9)], set(), SETTLE,
     DEFAULT, LinkPlan()),
    # -- reason and confidence updates
    ("replace gives a held link a new confidence", [auto("opportunity", 3, "token", 0.8)],
     [proposal("opportunity", 3, "token", 0.9)], set(), every_automatic, DEFAULT,
     LinkPlan(update=((0, proposal("opportunity", 3, "token", 0.9)),))),
    ("replace gives a held link a new reason", [auto("account", 2, "domain", 0.9)],
     [proposal("account", 2, "contact's account", 0.9)], set(), every_automatic, DEFAULT,
     LinkPlan(update=((0, proposal("account", 2, "contact's account", 0.9)),))),
    ("merge never rewrites a held link's reason", [auto("account", 2, "domain", 0.9)],
     [proposal("account", 2, "contact's account", 0.95)], set(), keep_held, DEFAULT,
     LinkPlan()),
    ("settle rewrites the reasons it owns", [auto("account", 2)],
     [proposal("account", 2, "reply in a conversation crmsync linked to Acme")], set(),
     SETTLE, DEFAULT,
     LinkPlan(update=((0, proposal("account", 2,
                                   "reply in a conversation crmsync linked to Acme")),))),
    # -- all at once: positions are those of the links planned from
    ("remove, update and add together, a person's link in between",
     [auto("account", 2, "old"), person("contact", 1), auto("opportunity", 3)],
     [proposal("opportunity", 9), proposal("account", 2, "new"), proposal("contact", 4)],
     {Target("contact", 4)}, every_automatic, DEFAULT,
     LinkPlan(add=(proposal("opportunity", 9),), remove=(2,),
              update=((0, proposal("account", 2, "new")),))),
]


@pytest.mark.parametrize(
    ("current", "proposed", "removed", "replaceable", "exclusive", "expected"),
    [row[1:] for row in TABLE], ids=[row[0] for row in TABLE],
)
def test_link_precedence(current: list[HeldLink], proposed: list[ProposedLink],
                         removed: set[Target], replaceable: Replaceable,
                         exclusive: frozenset[str], expected: LinkPlan) -> None:
    # Each row is one rule of crmsync.mapping.links, in the mode of one linking path.
    assert plan_links(current, proposed, removed, replaceable=replaceable,
                      exclusive=exclusive) == expected


def test_the_default_is_merge_with_deals_and_cases_exclusive() -> None:
    # The page writer's mail merge passes no mode: nothing held is replaced, rule 3 holds.
    held = [person("opportunity", 3), auto("contact", 1, "old")]
    got = plan_links(held, [proposal("opportunity", 4), proposal("contact", 1, "new")])
    assert got == LinkPlan()
