"""``GET /api/v1/meetings?type=&external_id=``: a record's upcoming booked meetings (the
pane's card lists them), under the one visibility rule: another team's meeting and a
private item are not listed, cancelled and past ones neither; bad input is a 4xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crmsync.crm.models import Activity
from tests.bookings.test_meetings_api import MARIA, WEI, office  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SOON = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
ANA = {"type": "contact", "external_id": "c-1"}


def booking(subject: str, start: datetime, **extra) -> dict:
    return {"subject": subject, "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "attendees": ["ana.ruiz@acme.example"], "links": [ANA], **extra}


def test_a_records_upcoming_meetings_as_the_caller_sees_them(office) -> None:  # noqa: F811
    client, keys, cli = office
    post = lambda who, body: client.post("/api/v1/meetings", json=body,  # noqa: E731
                                         headers=keys[who]).json["id"]
    later = post(MARIA, booking("Second visit", SOON + timedelta(days=1)))
    first = post(MARIA, booking("First visit", SOON))
    post(MARIA, booking("Last year", SOON - timedelta(days=400)))
    cancelled = post(MARIA, booking("Called off", SOON))
    client.delete(f"/api/v1/meetings/{cancelled}", headers=keys[MARIA])
    post(WEI, booking("Wei's visit", SOON))
    private = post(MARIA, booking("Private visit", SOON))
    with cli.session() as session:
        session.scalars(select(Activity).where(Activity.id == int(private))).one() \
            .sensitivity = "private"
        session.commit()
    listed = client.get("/api/v1/meetings?type=contact&external_id=c-1", headers=keys[MARIA])
    assert listed.status_code == 200, listed.json
    # her own (the private one is hers to see), not Wei's; none cancelled or past
    assert sorted(m["subject"] for m in listed.json["meetings"]) == [
        "First visit", "Private visit", "Second visit"]
    assert [m["id"] for m in listed.json["meetings"]][-1] == later
    assert listed.json["meetings"][0]["links"][0]["external_id"] == "c-1"
    theirs = client.get("/api/v1/meetings?type=contact&external_id=c-1", headers=keys[WEI])
    assert [m["subject"] for m in theirs.json["meetings"]] == ["Wei's visit"]
    # shared with everyone, Wei sees Maria's meetings but never her private one
    cli("org", "set-sharing", "everyone")
    theirs = client.get("/api/v1/meetings?type=contact&external_id=c-1", headers=keys[WEI])
    assert sorted(m["subject"] for m in theirs.json["meetings"]) == [
        "First visit", "Second visit", "Wei's visit"]
    assert first in [m["id"] for m in theirs.json["meetings"]]
    account = client.get("/api/v1/meetings?type=account&external_id=acc-acme",
                         headers=keys[MARIA])
    assert account.json["meetings"] == []  # linked to Ana, not to Acme


def test_unknown_records_and_bad_queries_are_4xx(office) -> None:  # noqa: F811
    client, keys, _cli = office
    for query, status in [("?type=contact&external_id=nobody", 404),
                          ("?type=planet&external_id=c-1", 422), ("?type=contact", 422),
                          ("?type=contact&external_id=" + "x" * 300, 422), ("", 422)]:
        answer = client.get("/api/v1/meetings" + query, headers=keys[MARIA])
        assert answer.status_code == status, (query, answer.json)
    assert client.get("/api/v1/meetings?type=contact&external_id=c-1").status_code == 401
