"""Adding a Microsoft 365 mailbox from the console: Test connection against the Graph
double (wrong secret, then right), Save, and a sync that works."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from crmsync.sync_service.engine.run import sync_mailbox
from tests.admin.conftest import ADMIN, REP
from tests.admin.console import post_form, sign_in
from tests.conftest import Cli
from tests.fakes import graph_fixtures

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph


def test_a_microsoft_365_mailbox_is_tested_then_saved(app: Flask, org: Cli, graph,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", graph.ca_path)
    address = "console.m365@northwind.example"
    graph.add_mailbox(address)
    graph.register_app("console-app", secret="the right secret")
    client = app.test_client()
    sign_in(client, ADMIN)
    form = {"name": "maria-365", "provider": "graph", "tenant": graph.tenant,
            "client_id": "console-app", "address": address, "owner": REP,
            "purpose": "personal", "authority_url": graph.base_url, "graph_url": graph.base_url}

    status, page = post_form(client, "/admin/mailboxes/test", {**form, "password": "wrong"})
    assert status == 400 and "Nothing was saved" in page
    assert org("mailbox", "list", "--json").output == ""
    status, page = post_form(client, "/admin/mailboxes/test",
                             {**form, "password": "the right secret"})
    assert status == 200 and "Connection works" in page, page
    assert "the right secret" not in page  # sealed in the form, never as text

    status, _ = post_form(client, "/admin/mailboxes/new", {**form, "password": "the right secret"})
    assert status == 302
    [row] = [json.loads(line) for line in org("mailbox", "list", "--json").output.splitlines()]
    assert (row["name"], row["provider"]) == ("maria-365", "graph")
    assert sync_mailbox(app.extensions["crmsync"], "maria-365").status == "ok"
