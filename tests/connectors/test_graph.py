"""The Graph connector through the real msal against the Graph double: delta, faults, limits."""

from __future__ import annotations

import threading

import pytest

from crmsync.connectors.base import CalendarEvent, ContactCard, Deletion, MailMessage
from crmsync.connectors.graph import GraphConnector
from crmsync.connectors.graph.send_mail import OutgoingMail
from crmsync.errors import AuthError, TransientError
from tests.fakes import graph_fixtures
from tests.fakes.graph_builders import contact, event, message
from tests.fakes.graph_fixtures import unique
from tests.fakes.graph_server import Fault, GraphDouble

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph


def connect(graph: GraphDouble, **settings) -> tuple[str, GraphConnector]:
    """A new mailbox with its own app registration, and a connector for it."""
    address = f"{unique('rep')}@northwind.example"
    client_id = unique("app-")
    graph.register_app(client_id, secret="s3cret")
    graph.add_mailbox(address)
    raw = {"tenant": graph.tenant, "client_id": client_id, "address": address,
           "authority_url": graph.base_url, "graph_url": graph.base_url, "batch_size": 3,
           **settings}
    return address, GraphConnector.from_settings(raw, "s3cret")


def put(graph: GraphDouble, address: str, folder: str, item: dict) -> str:
    box = graph.data.mailbox(address)
    return graph.data.put(address, box.folder_id(folder) or folder, item)


def drain(connector: GraphConnector, resource: str, cursor: str | None):
    pages = list(connector.fetch_changes(resource, cursor))
    return [c for p in pages for c in p.changes], pages[-1].cursor, pages


def test_initial_then_incremental_new_changed_moved_deleted(graph: GraphDouble) -> None:
    # A rep's inbox arrives in pages, then each later poll brings only what changed.
    address, connector = connect(graph)
    ids = [put(graph, address, "inbox", message(n)) for n in range(7)]
    with connector:
        changes, cursor, pages = drain(connector, "mail:inbox", None)
        assert len(pages) == 3 and {c.item_id for c in changes} == set(ids)
        assert changes[0].headers["from"] == "Ana Ruiz <ana.ruiz@acme.example>"
        new = put(graph, address, "inbox", message(99))
        graph.data.update(address, ids[0], isRead=True)
        graph.data.move(address, ids[1], graph.data.mailbox(address).folder_id("sentitems"))
        graph.data.delete(address, ids[2])
        changes, cursor, _ = drain(connector, "mail:inbox", cursor)
    by_id = {c.item_id: c for c in changes}
    assert set(by_id) == {new, ids[0], ids[1], ids[2]}
    assert "\\Seen" in by_id[ids[0]].flags
    assert isinstance(by_id[ids[1]], Deletion) and isinstance(by_id[ids[2]], Deletion)
    assert isinstance(by_id[new], MailMessage)


def test_no_change_poll_is_one_request_per_folder(graph: GraphDouble) -> None:
    # The request budget: an unchanged mailbox costs one request per resource.
    address, connector = connect(graph)
    put(graph, address, "inbox", message(1))
    with connector:
        cursors = {r: drain(connector, r, None)[1] for r in connector.list_resources()}
        before = len(graph.graph_requests(address))
        for resource, cursor in cursors.items():
            drain(connector, resource, cursor)
    assert len(graph.graph_requests(address)) - before == len(cursors) == 4


@pytest.mark.parametrize("where", ["$deltatoken", "$skiptoken"])
def test_410_restarts_a_full_round_marked_resync(graph: GraphDouble, where: str) -> None:
    # An expired delta token (or one dying mid-paging) re-enumerates instead of failing.
    address, connector = connect(graph)
    for n in range(5):
        put(graph, address, "inbox", message(n))
    with connector:
        _, cursor, pages = drain(connector, "mail:inbox", None)
        resume = pages[0].cursor if where == "$skiptoken" else cursor
        put(graph, address, "inbox", message(50))
        graph.gone(times=1, token=where)
        changes, _, pages = drain(connector, "mail:inbox", resume)
    assert pages[0].resync is True
    assert {c.headers["message-id"] for c in changes} >= {"<graph50@test.example>"}
    assert len(changes) == 6


@pytest.mark.parametrize("retry_after", [None, "1", "0.25"])
def test_throttling_waits_for_retry_after(graph: GraphDouble, retry_after: str | None) -> None:
    # A 429 storm is sat out: no request goes out before Retry-After has passed.
    address, connector = connect(graph)
    put(graph, address, "inbox", message(1))
    with connector:
        _ = connector.client  # sign in first, so only Graph requests are throttled
        graph.throttle(3, retry_after, path_contains=address)
        changes, _, _ = drain(connector, "mail:inbox", None)
    log = graph.graph_requests(address)
    assert [r.status for r in log] == [429, 429, 429, 200] and len(changes) == 1
    if retry_after:
        gaps = [b.at - a.at for a, b in zip(log, log[1:], strict=False)]
        assert min(gaps) >= float(retry_after) * 0.99


def test_long_retry_after_gives_up_with_transient_error(graph: GraphDouble) -> None:
    # Retry-After: 120 is not slept through: the run ends "retrying" with the delay.
    address, connector = connect(graph)
    with connector:
        _ = connector.client
        graph.throttle(1, "120", path_contains=address)
        with pytest.raises(TransientError) as caught:
            drain(connector, "mail:inbox", None)
    assert caught.value.retry_after == 120


def test_never_more_than_four_in_flight(graph: GraphDouble) -> None:
    # Twelve threads writing through one mailbox never trip MailboxConcurrency.
    address, connector = connect(graph)
    with connector:
        _ = connector.client
        threads = [threading.Thread(target=connector.send_mail, args=(OutgoingMail(
            to=["ana.ruiz@acme.example"], subject=f"s{n}", body="b"),)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert graph.max_in_flight[address] <= 4
    assert all(r.status == 202 for r in graph.graph_requests(address))


def test_batch_items_throttled_inside_a_200_are_retried_alone(graph: GraphDouble) -> None:
    # Attachment metadata comes in $batch; an item answered 429 inside it is fetched again.
    address, connector = connect(graph, batch_size=10)
    attachment = [{"name": "quote.pdf", "contentType": "application/pdf", "size": 1234}]
    for n in range(5):
        put(graph, address, "inbox", message(n, hasAttachments=True, attachments=attachment))
    graph.throttle(2, "0", path_contains="/attachments")
    with connector:
        changes, _, _ = drain(connector, "mail:inbox", None)
    assert all(c.attachments[0].filename == "quote.pdf" for c in changes)
    assert sum("$batch" in r.url for r in graph.graph_requests()) >= 1


def test_batch_items_failed_500_and_429_inside_a_200_are_retried_alone(graph: GraphDouble
                                                                      ) -> None:
    # F13: in a $batch of 10, item 3 answers 500 and item 7 answers 429; both are fetched
    # again on their own and every message keeps its attachment metadata.
    address, connector = connect(graph, batch_size=10)
    attachment = [{"name": "quote.pdf", "contentType": "application/pdf", "size": 1234}]
    ids = [put(graph, address, "inbox", message(n, hasAttachments=True, attachments=attachment))
           for n in range(10)]
    for index, status in ((3, 500), (7, 429)):
        path = f"/messages/{ids[index]}/attachments"
        graph.add_fault(Fault(
            match=lambda req, path=path: path in req.full_path and req.headers.get("X-Batch-Item"),
            status=status, headers={"Retry-After": "0"}, body={"error": {"code": "Failed"}}))
    with connector:
        changes, _, _ = drain(connector, "mail:inbox", None)
    assert len(changes) == 10
    assert all(c.attachments[0].filename == "quote.pdf" for c in changes)
    alone = [r.url for r in graph.graph_requests(address) if "/attachments" in r.url]
    assert sorted(u.split("/messages/")[1].split("/")[0] for u in alone) == sorted(
        [ids[3], ids[7]])


def test_dead_grant_raises_auth_error(graph: GraphDouble) -> None:
    # A revoked consent is an AuthError (needs re-auth), not a retry.
    address, connector = connect(graph)
    graph.fail_token(connector.settings.client_id)
    with connector, pytest.raises(AuthError, match="invalid_grant"):
        drain(connector, "mail:inbox", None)


def test_calendar_occurrences_exceptions_and_cancellations(graph: GraphDouble) -> None:
    # A weekly series arrives as occurrences; a moved one is an exception, a cancelled one goes.
    address, connector = connect(graph, calendar=True)
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0)
    ids = [graph.data.put(address, "calendar", event(
        "Weekly sync", start + timedelta(weeks=k), type="occurrence", seriesMasterId="SERIES1",
        originalStart=(start + timedelta(weeks=k)).isoformat())) for k in range(3)]
    with connector:
        changes, cursor, _ = drain(connector, "calendar", None)
        assert {c.event_type for c in changes} == {"occurrence"}
        assert all(isinstance(c, CalendarEvent) and c.series_id == "SERIES1" for c in changes)
        moved = start + timedelta(weeks=1, hours=2)
        graph.data.update(address, ids[1], type="exception", start={
            "dateTime": moved.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"})
        graph.data.delete(address, ids[2])
        changes, _, _ = drain(connector, "calendar", cursor)
    by_id = {c.item_id: c for c in changes}
    assert by_id[ids[1]].event_type == "exception" and by_id[ids[1]].start == moved
    assert isinstance(by_id[ids[2]], Deletion)


def test_contacts_delta_yields_cards(graph: GraphDouble) -> None:
    # Address-book entries come through with their addresses.
    address, connector = connect(graph)
    graph.data.put(address, "contacts", contact("Alex", "Wilber", "Alex@FineArtSchool.net"))
    with connector:
        changes, _, _ = drain(connector, "contacts", None)
    assert changes == [ContactCard(item_id=changes[0].item_id, folder="contacts",
                                   display_name="Alex Wilber", emails=("alex@fineartschool.net",),
                                   given_name="Alex", surname="Wilber")]


def test_acknowledgement_carries_loop_protection_headers(graph: GraphDouble) -> None:
    # Automatic mail says so (RFC 3834 and Exchange's suppress header), so no loop starts.
    address, connector = connect(graph)
    with connector:
        connector.send_mail(OutgoingMail(to=["ana.ruiz@acme.example"], subject="Re: help",
                                         body="We got it.", automatic=True))
    sent = [s for s in graph.sent if s["from"] == address][-1]
    headers = {h["name"]: h["value"] for h in sent["message"]["internetMessageHeaders"]}
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["X-Auto-Response-Suppress"] == "All"


def test_private_mail_is_marked_for_mapping(graph: GraphDouble) -> None:
    # Sensitivity travels to mapping, which decides not to capture private items.
    address, connector = connect(graph)
    put(graph, address, "inbox", message(1, internetMessageHeaders=[
        {"name": "Sensitivity", "value": "Private"}]))
    with connector:
        changes, _, _ = drain(connector, "mail:inbox", None)
    assert changes[0].headers["sensitivity"] == "Private"


def test_docs_sample_message_parses() -> None:
    # Microsoft's own message-get example becomes a record with its keys.
    import json
    from pathlib import Path

    from crmsync.connectors.graph.messages_delta import message_record

    sample = Path(__file__).parent.parent / "data" / "graph" / "message-get-full.json"
    record = message_record(json.loads(sample.read_text()), "inbox")
    assert record.headers["message-id"] == "<MWHPR6E1BE060@MWHPR1120.namprd22.prod.outlook.com>"
    assert record.body_text == "The group represents Nevada."
    assert record.conversation_id == "AAQkADOUpag6yWs="


def test_events_are_created_and_updated_in_the_calendar(graph: GraphDouble) -> None:
    # Calendar write-back (CalendarWriting): a meeting lands without attendees unless
    # invited, an edit names its etag, a stale etag is refused, a delete removes it.
    from datetime import UTC, datetime, timedelta

    from crmsync.connectors.calendar_writes import CalendarChangedError, EventDraft

    address, connector = connect(graph)
    start = datetime(2030, 3, 4, 15, 0, tzinfo=UTC)
    draft = EventDraft("Acme kickoff", start, start + timedelta(hours=1),
                       attendees=("ana.ruiz@acme.example",), invite=False)
    with connector:
        created = connector.create_event(draft)
        stored = graph.data.mailbox(address).items[created.remote_id]
        assert stored.container == "calendar" and stored.data["subject"] == "Acme kickoff"
        assert stored.data["attendees"] == []
        assert "ana.ruiz@acme.example" in stored.data["body"]["content"]
        moved = start + timedelta(days=1)
        updated = connector.update_event(created.remote_id, created.change_key,
                                         {"subject": "Acme kickoff (moved)", "start": moved,
                                          "end": moved + timedelta(hours=1)}, invite=False)
        with pytest.raises(CalendarChangedError):
            connector.update_event(created.remote_id, created.change_key, {"subject": "x"},
                                   invite=False)
        assert connector.read_event(created.remote_id) == updated
        connector.delete_event(created.remote_id, updated.change_key, invite=False)
        assert connector.read_event(created.remote_id) is None
    assert updated.start == moved and updated.subject == "Acme kickoff (moved)"
    assert updated.change_key != created.change_key
    assert [i for i in graph.invitations if i["organizer"] == address] == []

