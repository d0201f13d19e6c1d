"""Precision and recall of automatic links over the labelled set (tests/data/labelled/)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

LABELLED = Path(__file__).resolve().parent.parent / "data" / "labelled"
KINDS = ("contact", "account", "opportunity")


@dataclass(frozen=True)
class Score:
    """Counts of one link kind (or all): made and right, made, expected."""

    right: int
    made: int
    expected: int

    @property
    def precision(self) -> float:
        return self.right / self.made if self.made else 1.0

    @property
    def recall(self) -> float:
        return self.right / self.expected if self.expected else 1.0

    def __str__(self) -> str:
        return (f"precision {self.precision:.4f} ({self.right}/{self.made}), "
                f"recall {self.recall:.4f} ({self.right}/{self.expected})")


def expected_labels() -> dict[str, dict]:
    lines = (LABELLED / "expected.jsonl").read_text().splitlines()
    return {row["message_id"]: row for row in map(json.loads, lines)}


def score(activities: list[dict]) -> dict[str, Score]:
    """Compare the exported automatic links of each mail with its labels, per kind."""
    made = {a["internet_message_id"]: a for a in activities}
    counts: Counter[tuple[str, str]] = Counter()
    for message_id, label in expected_labels().items():
        activity = made.get(message_id)
        auto = {
            (link["type"], link["external_id"])
            for link in (activity["links"] if activity else [])
            if link["source"] == "auto"
        }
        for kind in KINDS:
            want = set(label["links"][kind])
            got = {target for k, target in auto if k == kind}
            counts[(kind, "right")] += len(want & got)
            counts[(kind, "made")] += len(got)
            counts[(kind, "expected")] += len(want)
    scores = {
        kind: Score(counts[(kind, "right")], counts[(kind, "made")], counts[(kind, "expected")])
        for kind in KINDS
    }
    scores["all"] = Score(*(sum(getattr(s, f) for s in scores.values())
                            for f in ("right", "made", "expected")))
    return scores
