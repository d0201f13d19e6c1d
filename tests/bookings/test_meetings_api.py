"""``/api/v1/meetings``: book, read, change, cancel, under the one visibility rule.

Maria (Sales EMEA) and Zhang Wei (Sales APAC) each have a mailbox; Olivia is an admin.
A meeting is read by whoever sees its activity and changed only by its owner or an
admin; another team's meeting is answered as absent, a private item is never a meeting
to change, and oversized input is a 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from crmsync.crm.models import Activity, Mailbox, User
from crmsync.sync_service.web.app import create_app
from tests.conftest import Cli, load_sample_crm

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MARIA = "maria.lopez@northwind.example"
WEI = "wei.zhang@northwind.example"
OLIVIA = "olivia.admin@northwind.example"
BODY = {"subject": "Fleet review", "start": "2026-12-14T10:00:00+01:00",
        "end": "2026-12-14T11:00:00+01:00", "attendees": ["ana.ruiz@acme.example"],
        "links": [{"type": "opportunity", "external_id": "opp-1"}]}


@pytest.fixture
def office(cli: Cli) -> Iterator[tuple[FlaskClient, dict[str, dict[str, str]], Cli]]:
    load_sample_crm(cli)
    services = cli.session
    with services() as session:
        for email in (MARIA, WEI):
            user = session.scalars(select(User).where(User.email == email)).one()
            session.add(Mailbox(name=f"box-{user.id}", provider="fake", owner_id=user.id,
                                settings={}, created_at=datetime.now(UTC)))
        session.commit()
    keys = {who: {"Authorization": "Bearer " + cli("apikey", "create", who).output.split()[-1]}
            for who in (MARIA, WEI, OLIVIA)}
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"]})
    yield app.test_client(), keys, cli
    app.extensions["crmsync"].dispose()


def test_book_read_change_cancel_as_the_owner(office) -> None:
    # Maria books through the API: export shows the meeting, her changes and the cancel.
    client, keys, cli = office
    booked = client.post("/api/v1/meetings", json=BODY, headers=keys[MARIA])
    assert booked.status_code == 201, booked.json
    meeting_id = booked.json["id"]
    assert booked.json["start"].startswith("2026-12-14T09:00:00")
    assert [link["external_id"] for link in booked.json["links"]] == ["opp-1"]
    assert client.get(f"/api/v1/meetings/{meeting_id}", headers=keys[MARIA]).json[
        "subject"] == "Fleet review"
    changed = client.patch(f"/api/v1/meetings/{meeting_id}", headers=keys[MARIA],
                           json={"subject": "Fleet review v2",
                                 "links": [{"type": "account", "external_id": "acc-acme"}]})
    assert changed.status_code == 200 and changed.json["subject"] == "Fleet review v2"
    cancelled = client.delete(f"/api/v1/meetings/{meeting_id}", headers=keys[MARIA])
    assert cancelled.json["status"] == "cancelled"
    [activity] = [a for a in cli.export_activities() if a["id"] == meeting_id]
    assert activity["kind"] == "meeting" and activity["subject"] == "Fleet review v2"
    assert sorted(link["external_id"] for link in activity["links"]) == ["acc-acme", "opp-1"]


def test_another_teams_meeting_is_absent_and_never_changed(office) -> None:
    # Wei's meeting: Maria (another team) gets 404 for read, change and cancel; an admin
    # changes it; with sharing "everyone" Maria sees it but may not change it (403).
    client, keys, cli = office
    wei_body = {**BODY, "links": [{"type": "opportunity", "external_id": "opp-3"}]}
    meeting_id = client.post("/api/v1/meetings", json=wei_body, headers=keys[WEI]).json["id"]
    url = f"/api/v1/meetings/{meeting_id}"
    assert client.get(url, headers=keys[MARIA]).status_code == 404
    assert client.patch(url, json={"subject": "x"}, headers=keys[MARIA]).status_code == 404
    assert client.delete(url, headers=keys[MARIA]).status_code == 404
    cli("org", "set-sharing", "everyone")
    assert client.get(url, headers=keys[MARIA]).status_code == 200
    assert client.patch(url, json={"subject": "x"}, headers=keys[MARIA]).status_code == 403
    assert client.delete(url, headers=keys[MARIA]).status_code == 403
    assert client.patch(url, json={"subject": "By the admin"},
                        headers=keys[OLIVIA]).status_code == 200
    assert client.get(url, headers=keys[WEI]).json["subject"] == "By the admin"
    assert client.get(url, headers=keys[WEI]).json["status"] == "confirmed"


def test_a_private_item_is_not_a_meeting_to_change(office) -> None:
    # A private activity of Maria's mailbox: no meeting route reads or changes it, for
    # her or anyone else.
    client, keys, cli = office
    with cli.session() as session:
        box = session.scalars(select(Mailbox).where(Mailbox.name.like("box-%"))).first()
        private = Activity(kind="meeting", dedupe_key="private-1", subject="Doctor",
                           occurred_at=datetime(2026, 12, 1, tzinfo=UTC), sensitivity="private",
                           created_at=datetime.now(UTC), owner_mailbox_id=box.id)
        session.add(private)
        session.commit()
        private_id = private.id
    for who in (MARIA, WEI):
        assert client.get(f"/api/v1/meetings/{private_id}", headers=keys[who]).status_code \
            == 404
        assert client.patch(f"/api/v1/meetings/{private_id}", json={"subject": "x"},
                            headers=keys[who]).status_code == 404


def test_unseen_records_unknown_fields_and_oversized_input_are_4xx(office) -> None:
    # Nothing a client sends makes a 5xx: bad times, too many people, a huge body.
    client, keys, _cli = office
    cases = [
        ({**BODY, "links": [{"type": "opportunity", "external_id": "opp-3"}]}, 404),  # Wei's deal
        ({**BODY, "subject": "x" * 501}, 422),
        ({**BODY, "attendees": [f"p{n}@acme.example" for n in range(101)]}, 422),
        ({**BODY, "start": "2026-12-14T10:00:00"}, 422),
        ({**BODY, "end": "2026-12-14T08:00:00Z"}, 400),
        ({**BODY, "repeat_weekly": 500}, 422),
        ({**BODY, "timezone": "Mars/Olympus"}, 400),
        ({**BODY, "attendees": ["not an address"]}, 400),
        ({**BODY, "owner": WEI}, 422),
    ]
    for body, status in cases:
        answer = client.post("/api/v1/meetings", json=body, headers=keys[MARIA])
        assert answer.status_code == status, (body, answer.json)
    huge = client.post("/api/v1/meetings", data=b"{" + b" " * (2 << 20) + b"}",
                       headers={**keys[MARIA], "Content-Type": "application/json"})
    assert huge.status_code == 413
    assert client.post("/api/v1/meetings", json=BODY).status_code == 401


def test_an_all_day_meeting_is_booked_as_its_days(office) -> None:
    # "all_day": the days from start's date to end's date (end exclusive), as midnights.
    client, keys, _ = office
    body = {**BODY, "all_day": True, "start": "2026-12-14T00:00:00+01:00",
            "end": "2026-12-16T00:00:00+01:00"}
    booked = client.post("/api/v1/meetings", json=body, headers=keys[MARIA])
    assert booked.status_code == 201
    assert booked.json["all_day"] is True
    assert booked.json["start"].startswith("2026-12-14T00:00:00")
    assert booked.json["end"].startswith("2026-12-16T00:00:00")
    one_day = client.post("/api/v1/meetings", json={**body, "end": body["start"]},
                          headers=keys[MARIA])
    assert one_day.json["end"].startswith("2026-12-15T00:00:00")
    weekly = client.post("/api/v1/meetings", json={**body, "repeat_weekly": 3},
                         headers=keys[MARIA])
    assert weekly.status_code == 400 and "repeat" in weekly.text
    assert client.post("/api/v1/meetings", json=BODY, headers=keys[MARIA]).json[
        "all_day"] is False


def test_patch_makes_a_meeting_all_day_and_timed_again(office) -> None:
    client, keys, _ = office
    meeting_id = client.post("/api/v1/meetings", json=BODY, headers=keys[MARIA]).json["id"]
    url = f"/api/v1/meetings/{meeting_id}"
    day = client.patch(url, json={"all_day": True, "start": "2026-12-18T00:00:00+01:00"},
                       headers=keys[MARIA])
    assert day.status_code == 200 and day.json["all_day"] is True
    assert day.json["start"].startswith("2026-12-18T00:00:00")
    assert day.json["end"].startswith("2026-12-19T00:00:00")
    half = client.patch(url, json={"all_day": False, "start": "2026-12-18T09:00:00Z"},
                        headers=keys[MARIA])
    assert half.status_code == 400 and "--start and --end" in half.text
    timed = client.patch(url, json={"all_day": False, "start": "2026-12-18T09:00:00Z",
                                    "end": "2026-12-18T10:00:00Z"}, headers=keys[MARIA])
    assert timed.json["all_day"] is False and timed.json["end"].startswith("2026-12-18T10:00")
