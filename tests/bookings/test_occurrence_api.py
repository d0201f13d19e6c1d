"""``PATCH/DELETE /api/v1/meetings/{id}?occurrence=START``: one occurrence of a series,
under the same access rules as the meeting (another team's: 404; a private item: 404);
bad input is a 4xx."""

from __future__ import annotations

import pytest

from tests.bookings.test_meetings_api import BODY, MARIA, WEI, office  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SERIES = {**BODY, "repeat_weekly": 3}
SECOND = "2026-12-21T09:00:00Z"


def test_one_occurrence_moved_and_another_cancelled_through_the_api(office) -> None:  # noqa: F811
    client, keys, cli = office
    meeting_id = client.post("/api/v1/meetings", json=SERIES, headers=keys[MARIA]).json["id"]
    url = f"/api/v1/meetings/{meeting_id}"
    moved = client.patch(f"{url}?occurrence={SECOND}", headers=keys[MARIA],
                         json={"start": "2026-12-22T14:00:00Z", "subject": "Tuesday review"})
    assert moved.status_code == 200, moved.json
    cancelled = client.delete(f"{url}?occurrence=2026-12-28T10:00:00%2B01:00",
                              headers=keys[MARIA])
    assert cancelled.status_code == 200, cancelled.json
    assert [(o["subject"], o["start"][:16], o["status"]) for o in cancelled.json["series"]] == [
        ("Fleet review", "2026-12-14T09:00", "confirmed"),
        ("Tuesday review", "2026-12-22T14:00", "moved"),
        ("Fleet review", "2026-12-28T09:00", "cancelled")]
    assert cancelled.json["status"] == "confirmed" and cancelled.json["subject"] == "Fleet review"
    activities = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    assert [a["occurred_at"] for a in activities] == [
        "2026-12-14T09:00:00Z", "2026-12-22T14:00:00Z", "2026-12-28T09:00:00Z"]
    assert all([link["external_id"] for link in a["links"]] == ["opp-1"] for a in activities)


def test_another_teams_occurrence_is_absent_and_bad_input_is_4xx(office) -> None:  # noqa: F811
    client, keys, cli = office
    wei = {**SERIES, "links": [{"type": "opportunity", "external_id": "opp-3"}]}
    meeting_id = client.post("/api/v1/meetings", json=wei, headers=keys[WEI]).json["id"]
    url = f"/api/v1/meetings/{meeting_id}"
    assert client.delete(f"{url}?occurrence={SECOND}", headers=keys[MARIA]).status_code == 404
    assert client.patch(f"{url}?occurrence={SECOND}", json={"subject": "x"},
                        headers=keys[MARIA]).status_code == 404
    for query, status in [("?occurrence=2026-12-15T09:00:00Z", 400),  # no occurrence then
                          ("?occurrence=yesterday", 400), ("?occurrence=" + "9" * 5000, 400),
                          ("?occurrence=2026-12-21T09:00:00", 400)]:  # no zone
        assert client.delete(url + query, headers=keys[WEI]).status_code == status, query
    assert client.patch(f"{url}?occurrence={SECOND}", json={"attendees": ["a@acme.example"]},
                        headers=keys[WEI]).status_code == 400
    series = client.get(url, headers=keys[WEI]).json["series"]
    assert [o["status"] for o in series] == ["confirmed"] * 3
