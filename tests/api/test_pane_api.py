"""The task pane's API: access by role, tracking rules, cases, contacts, templates."""

from __future__ import annotations

from sqlalchemy import select

from crmsync.crm.models import Activity
from tests.conftest import SAMPLES, Cli

ANA_MAIL = "<demo-001@mail.example>"


def auth(cli: Cli, email: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + cli("apikey", "create", email).output.strip()}


def test_another_teams_deal_is_absent_and_amounts_hidden_from_agents(client, loaded) -> None:
    # Maria (EMEA) never sees Zhang Wei's APAC deal; the support agent sees deals but no amounts.
    maria = auth(loaded, "maria.lopez@northwind.example")
    sam = auth(loaded, "sam.taylor@northwind.example")
    lookup = "/api/v1/lookup?address=xiaoming.li@yunfan.example.cn"
    assert client.get(lookup, headers=maria).json["opportunities"] == []
    assert client.get("/api/v1/timeline/opportunity/opp-3", headers=maria).status_code == 404
    assert client.get("/api/v1/search?q=云帆&type=opportunity", headers=maria).json["results"] == []
    body = {"internet_message_id": ANA_MAIL,
            "target": {"type": "opportunity", "external_id": "opp-3"}}
    assert client.post("/api/v1/track", json=body, headers=maria).status_code == 404
    wei = auth(loaded, "wei.zhang@northwind.example")
    assert client.get(lookup, headers=wei).json["opportunities"][0]["amount"] == "880000.00"
    agent_view = client.get(lookup, headers=sam).json["opportunities"]
    assert agent_view[0]["name"] == "云帆 数据平台" and agent_view[0]["amount"] is None
    ana = client.get("/api/v1/lookup?address=ana.ruiz@acme.example", headers=maria).json
    assert ana["opportunities"][0]["amount"] == "120000.00"


def test_tracking_is_idempotent_and_untracking_sticks_through_resync(client, loaded) -> None:
    # Tracking twice makes one person's link; an untracked automatic link never comes back.
    maria = auth(loaded, "maria.lopez@northwind.example")
    body = {"internet_message_id": "demo-001@mail.example",
            "target": {"type": "account", "external_id": "acc-initech"}}
    first = client.post("/api/v1/track", json=body, headers=maria)
    second = client.post("/api/v1/track", json=body, headers=maria)
    assert first.json["created"] is True and second.json["created"] is False
    initech = [x for x in second.json["links"] if x["external_id"] == "acc-initech"]
    assert len(initech) == 1 and initech[0]["source"] == "user"
    assert initech[0]["created_by"] == "Maria Lopez"
    ana = {"internet_message_id": ANA_MAIL, "target": {"type": "contact", "external_id": "c-1"}}
    after = client.post("/api/v1/untrack", json=ana, headers=maria).json
    assert "c-1" not in [x["external_id"] for x in after["links"]]
    assert "acc-initech" in [x["external_id"] for x in after["links"]]
    loaded("mail", "import", str(SAMPLES / "mailbox.mbox"))  # automation sees the mail again
    links = client.post("/api/v1/context", json={"internet_message_id": ANA_MAIL},
                        headers=maria).json["tracking"]["links"]
    assert "c-1" not in [x["external_id"] for x in links]
    assert "acc-initech" in [x["external_id"] for x in links]


def test_tracking_a_mail_crmsync_never_stored_stores_it_once(client, loaded) -> None:
    # A mail the sync skipped can still be tracked from the pane; a later import merges into it.
    maria = auth(loaded, "maria.lopez@northwind.example")
    item = {"subject": "TPS reports", "from": {"address": "peter.gibbons@gmail.com",
                                               "name": "Peter Gibbons"},
            "to": [{"address": "maria.lopez@northwind.example", "name": "Maria Lopez"}]}
    body = {"internet_message_id": "<demo-010@mail.example>", "item": item,
            "target": {"type": "account", "external_id": "acc-initech"}}
    assert client.post("/api/v1/track", json=body, headers=maria).json["stored"] is True
    loaded("mail", "import", str(SAMPLES / "mailbox.mbox"))
    with loaded.session() as session:
        rows = session.scalars(select(Activity).where(
            Activity.internet_message_id == "<demo-010@mail.example>")).all()
        assert len(rows) == 1 and rows[0].subject == "TPS reports"


def test_cases_are_numbered_in_sequence_and_contacts_are_not_doubled(client, loaded) -> None:
    # Two cases get CASE-000001 and CASE-000002; a second contact for a known address is refused.
    maria = auth(loaded, "maria.lopez@northwind.example")
    numbers = [client.post("/api/v1/cases", headers=maria, json={
        "subject": f"Outage {i}", "contact_external_id": "c-2",
        "internet_message_id": "<demo-011@mail.example>"}).json["number"] for i in (1, 2)]
    assert numbers == ["CASE-000001", "CASE-000002"]
    timeline = client.get("/api/v1/timeline/case/CASE-000001", headers=maria).json
    assert [a["subject"] for a in timeline["activities"]] == ["Outage at our Berlin site"]
    contact = {"email": "Ana.Ruiz@acme.example", "first_name": "Ana", "last_name": "Again"}
    assert client.post("/api/v1/contacts", json=contact, headers=maria).status_code == 409
    new = {"email": "jo.park@acme.example", "first_name": "Jo", "last_name": "Park",
           "account_external_id": "acc-acme"}
    created = client.post("/api/v1/contacts", json=new, headers=maria)
    assert created.status_code == 201 and created.json["name"] == "Jo Park"
    card = client.get("/api/v1/lookup?address=jo.park@acme.example", headers=maria).json
    assert card["contact"]["name"] == "Jo Park" and card["account"]["external_id"] == "acc-acme"


def test_context_ranks_suggestions_with_reasons(client, loaded) -> None:
    # For a new mail from Jo Park the suggestions are Acme's records, each saying why.
    maria = auth(loaded, "maria.lopez@northwind.example")
    body = {"internet_message_id": "<new-1@acme.example>", "subject": "Invoice address",
            "from": {"address": "jo.park@acme.example", "name": "Jo Park"},
            "to": [{"address": "maria.lopez@northwind.example", "name": "Maria Lopez"}]}
    ctx = client.post("/api/v1/context", json=body, headers=maria).json
    assert [c["address"] for c in ctx["participants"]] == ["jo.park@acme.example"]
    prefill = ctx["participants"][0]["prefill"]
    assert (prefill["first_name"], prefill["last_name"]) == ("Jo", "Park")
    assert prefill["account"]["external_id"] == "acc-acme"
    suggested = [(s["type"], s["external_id"]) for s in ctx["suggestions"]]
    assert ("opportunity", "opp-1") in suggested
    assert all(s["reason"] for s in ctx["suggestions"])
    scores = [s["score"] for s in ctx["suggestions"]]
    assert scores == sorted(scores, reverse=True)


def test_templates_fill_placeholders_and_keep_unknown_ones(client, loaded) -> None:
    # The outage template names Tom and his open case; an unknown placeholder stays as written.
    loaded("cases", "templates", "import", str(SAMPLES.parent / "tests/addin/data/templates.json"))
    maria = auth(loaded, "maria.lopez@northwind.example")
    client.post("/api/v1/cases", headers=maria, json={"subject": "Outage",
                                                     "contact_external_id": "c-2"})
    query = {"subject": "RE: Outage at our Berlin site", "address": "tom.becker@acme.example",
             "internet_message_id": "<demo-011@mail.example>"}
    templates = client.get("/api/v1/templates", query_string=query, headers=maria).json["templates"]
    assert templates[0]["name"] == "Outage acknowledgement"
    assert templates[0]["body"] == "Hi Tom, we are on it under CASE-000001. {unknown} stays."
    assert templates[0]["matched"] == ["outage"]
