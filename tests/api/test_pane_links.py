"""Links a person makes from the pane outlive the sync: meetings, track on send, removals."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from tests.api.test_pane_api import ANA_MAIL, auth
from tests.conftest import SAMPLES, Cli

GLOBEX_PILOT = {"type": "opportunity", "external_id": "opp-2"}


def _meeting_file(path: Path, uid: str) -> Path:
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:REQUEST\r\n"
        "BEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:20261110T100000Z\r\nDTEND:20261110T110000Z\r\nSUMMARY:Pilot kickoff\r\n"
        "ORGANIZER;CN=Maria Lopez:mailto:maria.lopez@northwind.example\r\n"
        "ATTENDEE;CN=Hank;PARTSTAT=NEEDS-ACTION:mailto:hank@globex.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
    return path


def _meeting_links(cli: Cli) -> list[tuple[str, str, str]]:
    [meeting] = [a for a in cli.export_activities() if a["kind"] == "meeting"]
    return sorted((x["type"], x["external_id"], x["source"]) for x in meeting["links"])


def test_meeting_linked_before_it_is_synced_gets_the_link(
    client: FlaskClient, loaded: Cli, tmp_path: Path
) -> None:
    # Maria links a meeting crmsync does not hold yet; importing it applies her link, once.
    maria = auth(loaded, "maria.lopez@northwind.example")
    body = {"item_id": "AAMkAGI2/kickoff+1", "rest_item_id": "kickoff-1",
            "target": GLOBEX_PILOT}
    answer = client.post("/api/v1/meetings/link", json=body, headers=maria)
    assert answer.status_code == 200
    assert answer.json["pending"] is True and answer.json["linked"] is False
    assert answer.json["target"]["name"] == "Globex pilot"
    ics = _meeting_file(tmp_path / "kickoff.ics", "kickoff-1")  # an .ics copy's id is its UID
    loaded("calendar", "import", str(ics))
    loaded("calendar", "import", str(ics))
    assert ("opportunity", "opp-2", "user") in _meeting_links(loaded)
    assert ("account", "acc-globex", "auto") in _meeting_links(loaded)
    assert len(_meeting_links(loaded)) == len(set(_meeting_links(loaded)))


def test_meeting_crmsync_holds_is_linked_at_once_and_others_deals_stay_out(
    client: FlaskClient, loaded: Cli, tmp_path: Path
) -> None:
    # A synced meeting is linked on the spot (by iCalendar UID); another team's deal is absent.
    loaded("calendar", "import", str(_meeting_file(tmp_path / "kickoff.ics", "kickoff-2")))
    maria = auth(loaded, "maria.lopez@northwind.example")
    answer = client.post("/api/v1/meetings/link", headers=maria,
                         json={"ical_uid": "kickoff-2", "target": GLOBEX_PILOT}).json
    assert answer["linked"] is True and answer["pending"] is False
    mine = [x for x in answer["links"] if x["external_id"] == "opp-2"]
    assert mine[0]["source"] == "user" and mine[0]["created_by"] == "Maria Lopez"
    assert ("opportunity", "opp-2", "user") in _meeting_links(loaded)
    apac = {"ical_uid": "kickoff-2", "target": {"type": "opportunity", "external_id": "opp-3"}}
    assert client.post("/api/v1/meetings/link", json=apac, headers=maria).status_code == 404
    nothing = client.post("/api/v1/meetings/link", json={"target": GLOBEX_PILOT}, headers=maria)
    assert nothing.status_code == 400


def _sent_mail(path: Path, sender: str, token_header: str, number: int) -> Path:
    path.write_bytes(
        f"From: {sender}\r\nTo: hank@globex.example, maria.lopez@northwind.example\r\n"
        f"Subject: Pilot plan\r\nMessage-ID: <plan-{number}@northwind.example>\r\n"
        f"Date: Mon, 2 Nov 2099 10:00:00 +0000\r\n{token_header}\r\n\r\nPlan attached.\r\n"
        .encode())
    return path


def test_track_on_send_by_header_token_links_only_the_reps_own_mail(
    client: FlaskClient, loaded: Cli, tmp_path: Path
) -> None:
    # A new draft (no conversation yet) gets a header token; the sent copy carrying it is
    # tracked to both records chosen; the same token in someone else's mail links nothing.
    maria = auth(loaded, "maria.lopez@northwind.example")
    first = client.post("/api/v1/track-on-send", headers=maria,
                        json={"target": GLOBEX_PILOT}).json
    assert first["header"] == "X-CRMSync-Track" and len(first["send_token"]) >= 16
    token = first["send_token"]
    second = client.post("/api/v1/track-on-send", headers=maria, json={
        "send_token": token, "target": {"type": "account", "external_id": "acc-initech"}}).json
    assert second["send_token"] == token
    forged = client.post("/api/v1/track-on-send", headers=maria, json={
        "send_token": "A" * 32, "target": GLOBEX_PILOT}).json
    assert forged["send_token"] != "A" * 32  # a token is handed out, never chosen
    hank = _sent_mail(tmp_path / "hank.eml", "hank@globex.example",
                      f"X-CRMSync-Track: {token}", 1)
    loaded("mail", "import", str(hank))
    sent = _sent_mail(tmp_path / "sent.eml", "Maria Lopez <maria.lopez@northwind.example>",
                      f"X-CRMSync-Track: {token}", 2)
    loaded("mail", "import", str(sent))
    activities = {a["internet_message_id"]: a for a in loaded.export_activities()}
    by_person = sorted(x["external_id"] for x in activities["<plan-2@northwind.example>"]["links"]
                       if x["source"] == "user")
    assert by_person == ["acc-initech", "opp-2"]
    assert [x for x in activities["<plan-1@northwind.example>"]["links"]
            if x["source"] == "user"] == []


def test_untracked_link_stays_gone_through_reimport_and_relink(
    client: FlaskClient, loaded: Cli
) -> None:
    # Maria removes the automatic link to Ana; neither a re-import nor `crmsync relink`
    # brings it back, while the mail's other automatic links stay.
    maria = auth(loaded, "maria.lopez@northwind.example")
    ana = {"internet_message_id": ANA_MAIL, "target": {"type": "contact", "external_id": "c-1"}}
    client.post("/api/v1/untrack", json=ana, headers=maria)

    def links() -> set[tuple[str, str]]:
        mail = next(a for a in loaded.export_activities()
                    if a["internet_message_id"] == ANA_MAIL)
        return {(x["type"], x["external_id"]) for x in mail["links"]}

    loaded("mail", "import", str(SAMPLES / "mailbox.mbox"))
    assert ("contact", "c-1") not in links() and ("account", "acc-acme") in links()
    out = loaded("relink", "--since", "2000-01-01").output
    assert "relinked" in out
    assert ("contact", "c-1") not in links() and ("account", "acc-acme") in links()


def test_a_deal_chosen_for_a_meeting_keeps_other_deals_off_when_it_is_updated(
    client: FlaskClient, loaded: Cli, tmp_path: Path
) -> None:
    # Maria makes the meeting's deal hers; renamed later to name another deal, it is
    # stored again with its new subject, and automation adds no second deal (as for mail).
    loaded("calendar", "import", str(_meeting_file(tmp_path / "kickoff.ics", "kickoff-3")))
    maria = auth(loaded, "maria.lopez@northwind.example")
    body = {"ical_uid": "kickoff-3", "target": GLOBEX_PILOT}
    assert client.post("/api/v1/meetings/link", json=body, headers=maria).json["linked"]
    renamed = tmp_path / "renamed.ics"
    renamed.write_text(_meeting_file(tmp_path / "kickoff.ics", "kickoff-3").read_text()
                       .replace("SUMMARY:Pilot kickoff", "SUMMARY:Pilot kickoff [opp-1]")
                       .replace("DTSTAMP:", "SEQUENCE:1\r\nDTSTAMP:"))
    loaded("calendar", "import", str(renamed))
    [meeting] = [a for a in loaded.export_activities() if a["kind"] == "meeting"]
    assert meeting["subject"] == "Pilot kickoff [opp-1]"
    deals = sorted((x["external_id"], x["source"]) for x in meeting["links"]
                   if x["type"] == "opportunity")
    assert deals == [("opp-2", "user")]
