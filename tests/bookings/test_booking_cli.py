"""`crmsync calendar add|update|cancel`: a meeting booked in the CRM, as export shows it."""

from __future__ import annotations

import pytest

from tests.conftest import Cli, load_sample_crm

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
MARIA = "maria.lopez@northwind.example"


def book(cli: Cli, *extra: str) -> str:
    return cli("calendar", "add", MARIA, "--subject", "Fleet review", "--start",
               "2026-12-14T10:00:00+01:00", "--end", "2026-12-14T11:00:00+01:00",
               *extra).output.strip()


def by_id(cli: Cli) -> dict[str, dict]:
    return {a["id"]: a for a in cli.export_activities()}


def test_a_booked_meeting_is_a_meeting_activity_with_people_and_user_links(cli: Cli) -> None:
    # The printed id is the meeting in export: kind meeting, attendees, links by a person.
    load_sample_crm(cli)
    meeting_id = book(cli, "--with", "ana.ruiz@acme.example", "--link", "opportunity:opp-1",
                      "--link", "account:acc-acme")
    activity = by_id(cli)[meeting_id]
    assert activity["kind"] == "meeting"
    assert activity["subject"] == "Fleet review"
    assert activity["occurred_at"] == "2026-12-14T09:00:00Z"
    people = {(p["address"], p["role"]) for p in activity["participants"]}
    assert people == {(MARIA, "organizer"), ("ana.ruiz@acme.example", "attendee")}
    ana = next(p for p in activity["participants"] if p["role"] == "attendee")
    assert ana["contact_external_id"] == "c-1"
    links = {(link["type"], link["external_id"], link["source"]) for link in activity["links"]}
    assert links == {("opportunity", "opp-1", "user"), ("account", "acc-acme", "user")}


def test_a_weekly_series_has_its_links_on_every_occurrence(cli: Cli) -> None:
    # --repeat weekly:4: four occurrences a week apart, every one linked, not just the first.
    load_sample_crm(cli)
    meeting_id = book(cli, "--repeat", "weekly:4", "--link", "opportunity:opp-1",
                      "--timezone", "Europe/Berlin")
    activities = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    assert len(activities) == 4 and activities[0]["id"] == meeting_id
    assert [a["occurred_at"] for a in activities] == [
        "2026-12-14T09:00:00Z", "2026-12-21T09:00:00Z", "2026-12-28T09:00:00Z",
        "2027-01-04T09:00:00Z"]
    for activity in activities:
        assert [(link["external_id"], link["source"]) for link in activity["links"]] == [
            ("opp-1", "user")]


def test_update_changes_what_it_is_given_and_adds_links(cli: Cli) -> None:
    # --with replaces the people, --link adds, --start moves keeping the length; a series whole.
    load_sample_crm(cli)
    meeting_id = book(cli, "--repeat", "weekly:2", "--with", "ana.ruiz@acme.example",
                      "--link", "opportunity:opp-1")
    cli("calendar", "update", meeting_id, "--start", "2026-12-15T15:00:00Z", "--with",
        "tom.becker@acme.example", "--link", "contact:c-2", "--subject", "Fleet review v2")
    activities = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    assert [a["occurred_at"] for a in activities] == ["2026-12-15T15:00:00Z",
                                                      "2026-12-22T15:00:00Z"]
    for activity in activities:
        assert activity["subject"] == "Fleet review v2"
        assert {p["address"] for p in activity["participants"] if p["role"] == "attendee"} \
            == {"tom.becker@acme.example"}
        assert {link["external_id"] for link in activity["links"]} == {"opp-1", "c-2"}


def test_cancel_keeps_the_activity_and_its_links(cli: Cli) -> None:
    # A cancelled meeting stays on the timeline with its links; it cannot be updated after.
    load_sample_crm(cli)
    meeting_id = book(cli, "--link", "account:acc-acme")
    cli("calendar", "cancel", meeting_id)
    assert by_id(cli)[meeting_id]["links"][0]["external_id"] == "acc-acme"
    refused = cli("calendar", "update", meeting_id, "--subject", "x", ok=False)
    assert refused.exit_code == 1 and "cancelled" in refused.output


@pytest.mark.parametrize(("args", "message"), [
    (("--start", "2026-12-14T10:00:00", "--end", "2026-12-14T11:00:00Z"), "no zone"),
    (("--start", "2026-12-14T11:00:00Z", "--end", "2026-12-14T10:00:00Z"), "end after"),
    (("--start", "tomorrow", "--end", "2026-12-14T10:00:00Z"), "not an ISO 8601"),
    (("--start", "2026-12-14T10:00:00Z", "--end", "2026-12-14T11:00:00Z",
      "--repeat", "daily:3"), "weekly:N"),
    (("--start", "2026-12-14T10:00:00Z", "--end", "2026-12-14T11:00:00Z",
      "--link", "opportunity:nope"), "no opportunity"),
    (("--start", "2026-12-14T10:00:00Z", "--end", "2026-12-14T11:00:00Z",
      "--with", "not an address"), "not a mail address"),
])
def test_bad_input_is_refused_with_a_reason_and_stores_nothing(
        cli: Cli, args: tuple[str, ...], message: str) -> None:
    # Each mistake says what is wrong; no meeting is stored.
    load_sample_crm(cli)
    result = cli("calendar", "add", MARIA, "--subject", "x", *args, ok=False)
    assert result.exit_code == 1 and message in result.output
    assert [a for a in cli.export_activities() if a["kind"] == "meeting"] == []


def test_unknown_owner_and_unknown_meeting(cli: Cli) -> None:
    # Only a CRM user books; only a booked meeting is updated or cancelled.
    load_sample_crm(cli)
    result = cli("calendar", "add", "nobody@northwind.example", "--subject", "x", "--start",
                 "2026-12-14T10:00:00Z", "--end", "2026-12-14T11:00:00Z", ok=False)
    assert "no CRM user" in result.output
    assert "no meeting 999" in cli("calendar", "cancel", "999", ok=False).output
