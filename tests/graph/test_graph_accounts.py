"""Microsoft 365 connections beyond one app-only mailbox: delegated sign-in and groups."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from crmsync.crm.models import Mailbox
from crmsync.sync_service.context import Services
from tests.conftest import Cli, load_sample_crm, make_services
from tests.fakes.graph_builders import message
from tests.fakes.graph_directory import user_object
from tests.fakes.graph_fixtures import unique
from tests.fakes.graph_server import GraphDouble
from tests.graph.test_graph_sync import _mailboxes, inbox, mail_ids, sync


@pytest.fixture
def services_of(cli: Cli) -> Iterator[Services]:
    services = make_services(cli.env["CRMSYNC_DATABASE_URL"])
    yield services
    services.dispose()


@pytest.fixture
def approving(graph: GraphDouble) -> Iterator[GraphDouble]:
    """The double with short delegated tokens; switches restored afterwards."""
    yield graph
    graph.directory.auto_approve = None
    graph.directory.access_seconds = 3599


def add_delegated(cli: Cli, graph: GraphDouble, client_id: str) -> tuple[str, str, str]:
    """A user signs their own mailbox in with the device code (approved at first poll)."""
    address = f"{unique('self')}@northwind.example"
    graph.add_mailbox(address)
    graph.directory.auto_approve = address
    name = unique("me-")
    result = cli("mailbox", "add", "graph", name, "--tenant", graph.tenant, "--client-id",
                 client_id, "--delegated", "--address", address, "--authority-url",
                 graph.base_url, "--graph-url", graph.base_url,
                 env={"REQUESTS_CA_BUNDLE": graph.ca_path})
    return name, address, result.output


def stored_secret(services: Services, name: str) -> tuple[bytes, str]:
    with services.sessions() as session:
        row = session.scalars(select(Mailbox).where(Mailbox.name == name)).one()
        return row.secret, services.secret_box().open(row.secret, name)


def test_device_code_sign_in_syncs_and_keeps_the_cache_fresh(
        cli: Cli, approving: GraphDouble, services_of: Services) -> None:
    # A user signs in with a code; mail syncs, and each run stores the refreshed cache sealed.
    graph = approving
    load_sample_crm(cli)
    client_id = unique("public-")
    graph.register_app(client_id)  # a public client: no secret
    graph.directory.access_seconds = 60  # within msal's 5-minute margin: every run refreshes
    name, address, output = add_delegated(cli, graph, client_id)
    assert "https://microsoft.com/devicelogin" in output and "enter the code" in output
    sealed, cache = stored_secret(services_of, name)
    assert b"refresh_token" not in sealed and b"rt-" not in sealed  # encrypted at rest
    first_refresh = {v["secret"] for v in json.loads(cache)["RefreshToken"].values()}
    inbox(graph, address, message(600))
    assert "ok" in sync(cli, graph, name)
    assert "<graph600@test.example>" in mail_ids(cli)
    _, cache = stored_secret(services_of, name)
    refreshed = {v["secret"] for v in json.loads(cache)["RefreshToken"].values()}
    assert refreshed and refreshed != first_refresh  # the rotated refresh token was stored
    assert refreshed <= set(graph.directory.refresh_tokens)


def test_sealed_cache_is_bound_to_its_row(cli: Cli, approving: GraphDouble,
                                          services_of: Services) -> None:
    # A token cache copied onto another mailbox's row does not decrypt there.
    client_id = unique("public-")
    approving.register_app(client_id)
    name, _, _ = add_delegated(cli, approving, client_id)
    sealed, _ = stored_secret(services_of, name)
    from crmsync.sync_service.mailboxes.credentials import SecretUnreadableError

    with pytest.raises(SecretUnreadableError):
        services_of.secret_box().open(sealed, name + "-copy")


def test_revoked_user_needs_reauth_alone(cli: Cli, approving: GraphDouble) -> None:
    # One user revokes consent: invalid_grant on refresh marks only their mailbox.
    graph = approving
    load_sample_crm(cli)
    client_id = unique("public-")
    graph.register_app(client_id)
    revoked, revoked_address, _ = add_delegated(cli, graph, client_id)
    kept, kept_address, _ = add_delegated(cli, graph, client_id)
    graph.directory.revoke_user(graph, revoked_address)
    inbox(graph, kept_address, message(700))
    cli("sync", "--once", ok=False, env={"REQUESTS_CA_BUNDLE": graph.ca_path})
    rows = {r["name"]: r for r in _mailboxes(cli)}
    assert rows[revoked]["status"] == "needs re-auth"
    assert "invalid_grant" in rows[revoked]["last_error"]
    assert rows[kept]["status"] == "ok" and "<graph700@test.example>" in mail_ids(cli)


def test_group_members_are_registered_once_each(cli: Cli, graph: GraphDouble) -> None:
    # All members of a mail-enabled group get a mailbox; re-running adds only newcomers.
    load_sample_crm(cli)
    domain = f"{unique('team')}.example"
    people = [f"{who}@{domain}" for who in ("ana", "ben", "cleo")]
    for address in people:
        graph.add_mailbox(address)
    members = [user_object(a, a.split("@")[0]) for a in people[:2]]
    members += [user_object(None, "No Mailbox"),
                {"@odata.type": "#microsoft.graph.group", "id": "nested", "mail": "x@y.z"}]
    group_mail = f"sales@{domain}"
    group_id = graph.directory.add_group(graph, group_mail, members)
    client_id = unique("app-")
    graph.register_app(client_id, secret="s3cret")
    args = ("mailbox", "add", "graph", "sales", "--tenant", graph.tenant, "--client-id",
            client_id, "--secret-env", "GRAPH_SECRET", "--authority-url", graph.base_url,
            "--graph-url", graph.base_url)
    env = {"GRAPH_SECRET": "s3cret", "REQUESTS_CA_BUNDLE": graph.ca_path}
    cli(*args, "--group", group_mail, env=env)
    names = {r["name"] for r in _mailboxes(cli)}
    assert {"sales-ana", "sales-ben"} <= names and "sales-cleo" not in names
    graph.directory.groups[group_id]["members"].append(user_object(people[2], "Cleo"))
    result = cli(*args, "--group", group_id, env=env)
    assert "1 new of 3 group members" in result.output
    names = [r["name"] for r in _mailboxes(cli) if r["name"].startswith("sales-")]
    assert sorted(names) == ["sales-ana", "sales-ben", "sales-cleo"]
    inbox(graph, people[2], message(800))
    assert "ok" in sync(cli, graph, "sales-cleo")  # the shared app secret works for each
