"""Appointment mode: link the meeting to a deal, and see who attends."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.addin.conftest import LiveApp
from tests.addin.pane import open_preview

#: the stand-in's item id for the meeting made from demo-004 (Office's EWS-form id)
MEETING_ID = "standin-meeting-<demo-004@mail.example>"


def _calendar_copy(path: Path) -> Path:
    # An imported .ics copy's item id is its UID: here the id Outlook showed the pane.
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:REQUEST\r\n"
        "BEGIN:VEVENT\r\nUID:" + MEETING_ID + "\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:20261110T100000Z\r\nDTEND:20261110T110000Z\r\nSUMMARY:Globex pilot kickoff\r\n"
        "ORGANIZER;CN=Hank Scorpio:mailto:hank@globex.example\r\n"
        "ATTENDEE;CN=Maria Lopez:mailto:maria.lopez@northwind.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
    return path


def _pick(pane, query: str) -> None:
    pane.locator("[data-test=search]").fill(query)
    pane.locator("[data-test=search]").press("Enter")
    pane.locator("[data-test=search-results] [data-test=pick]").first.click()


def test_meeting_linked_in_the_pane_is_linked_when_synced(page, live: LiveApp, tmp_path) -> None:
    # Maria links a meeting crmsync has not seen to Initech (nothing automatic would); once
    # the calendar copy is imported the meeting is on Initech by her, and the pane shows it.
    pane = open_preview(page, live, "<demo-004@mail.example>", mode="appointment")
    expect(pane.locator("[data-test=card-name]").first).to_have_text("Hank Scorpio")
    _pick(pane, "Initech")
    expect(pane.locator("[data-test=intent-status]")).to_have_text(
        "Will be linked to Initech when the meeting is synced.")
    live.cli("calendar", "import", str(_calendar_copy(tmp_path / "kickoff.ics")))
    [meeting] = [a for a in live.cli.export_activities() if a["kind"] == "meeting"]
    assert ("account", "acc-initech", "user") in [
        (x["type"], x["external_id"], x["source"]) for x in meeting["links"]]
    pane = open_preview(page, live, "<demo-004@mail.example>", mode="appointment")
    linked = pane.locator("[data-test=meeting-links] [data-test=link]", has_text="Initech")
    expect(linked.locator("[data-test=link-reason]")).to_have_text("tracked by a person")


def test_meeting_crmsync_holds_is_linked_at_once(page, live: LiveApp, tmp_path) -> None:
    # The meeting was synced and automatically linked to the Globex pilot (Hank is its
    # contact); Maria choosing the deal makes that link hers, at once.
    live.cli("calendar", "import", str(_calendar_copy(tmp_path / "kickoff.ics")))
    pane = open_preview(page, live, "<demo-004@mail.example>", mode="appointment")
    auto = pane.locator("[data-test=meeting-links] [data-test=link]", has_text="Globex pilot")
    expect(auto.locator("[data-test=link-reason]")).not_to_have_text("tracked by a person")
    _pick(pane, "pilot")
    expect(pane.locator("[data-test=intent-status]")).to_have_text("Linked to Globex pilot.")
    linked = pane.locator("[data-test=meeting-links] [data-test=link]", has_text="Globex pilot")
    expect(linked.locator("[data-test=link-reason]")).to_have_text("tracked by a person")
