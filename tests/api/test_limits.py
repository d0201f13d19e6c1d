"""Hostile request shapes get a clear 4xx and change nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import pytest
from flask.testing import FlaskClient

from crmsync.sync_service.web.limits import json_depth
from tests.api.test_pane_api import ANA_MAIL, auth
from tests.conftest import Cli

MARIA = "maria.lopez@northwind.example"


def _links(cli: Cli) -> list:
    return sorted(json.dumps(a["links"], sort_keys=True) for a in cli.export_activities())


def test_an_oversized_body_is_refused_before_it_is_read(client: FlaskClient, loaded: Cli):
    big = b'{"value": [' + b'{"subscriptionId": "x"},' * 60_000 + b'{}]}'
    answer = client.post("/webhooks/graph", data=big, content_type="application/json")
    assert answer.status_code == 413
    answer = client.post("/api/v1/context", data=big, content_type="application/json",
                         headers=auth(loaded, MARIA))
    assert answer.status_code == 413 and "error" in answer.json


def test_deeply_nested_json_is_a_400_not_a_crash(client: FlaskClient, loaded: Cli):
    deep = "[" * 100_000 + "]" * 100_000
    answer = client.post("/api/v1/context", data=deep, content_type="application/json",
                         headers=auth(loaded, MARIA))
    assert answer.status_code == 400
    assert "nested" in answer.json["error"]


@pytest.mark.parametrize("request_args", [
    ("GET", "/api/v1/search?q=acme%00", None),
    ("GET", "/api/v1/messages?internet_message_id=%3Ca%00b%40x%3E", None),
    ("GET", "/api/v1/timeline/account/acc%00", None),
    ("POST", "/api/v1/track", {"internet_message_id": "<a\u0000b@x>",
                               "target": {"type": "account", "external_id": "acc-globex"}}),
    ("POST", "/api/v1/untrack", {"internet_message_id": ANA_MAIL,
                                 "target": {"type": "account", "external_id": "a\u0000"}}),
], ids=["search", "message-id", "path", "track", "untrack"])
def test_a_nul_character_is_a_400_on_both_databases(client: FlaskClient, loaded: Cli,
                                                    request_args):
    method, url, body = request_args
    before = _links(loaded)
    answer = client.open(url, method=method, json=body, headers=auth(loaded, MARIA))
    assert answer.status_code == 400
    assert "NUL" in answer.json["error"]
    assert _links(loaded) == before


@pytest.mark.parametrize(("text", "depth"), [
    (b"{}", 1), (b"[[1], {\"a\": [2]}]", 3), (b'"[[[[["', 0), (b'["\\"[[["]', 1),
    (b"1", 0),
])
def test_json_depth_counts_brackets_outside_strings(text, depth):
    assert json_depth(text) == depth


@pytest.mark.parametrize("payload", [{"value": ["x"]}, {"value": [None, 1, []]}, ["x"],
                                     {"value": "x"}, {"value": [{"subscriptionId": {"a": 1}}]}])
def test_a_malformed_graph_notification_is_ignored_not_a_500(client: FlaskClient, loaded: Cli,
                                                             payload):
    assert client.post("/webhooks/graph", json=payload).status_code == 202


def test_many_notifications_are_answered_in_one_query_worth_of_time(client: FlaskClient,
                                                                    loaded: Cli):
    # 20,000 forged notifications (under the size limit) once took a query each.
    body = {"value": [{"subscriptionId": f"s{i}", "clientState": "x"} for i in range(20_000)]}
    started = time.monotonic()
    assert client.post("/webhooks/graph", json=body).status_code == 202
    assert time.monotonic() - started < 3  # Graph's own deadline for an answer
