"""A6 for Microsoft Graph: the sign-in and API hosts are held to the mail servers' rule.

``--authority-url`` and ``--graph-url`` (national clouds) are refused at ``mailbox add
graph`` and again at every request, with :data:`REFUSED` for every target and no packet
sent: a loopback listener counts the connections that reach it. The suite allows loopback
for every other test (tests/conftest.py); here the allowance is taken away or narrowed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from crmsync.connectors import network
from crmsync.connectors.base import SendRefusedError
from crmsync.connectors.graph import GraphConnector
from crmsync.connectors.https import check_url, pinned_session
from crmsync.connectors.network import REFUSED
from crmsync.errors import ConfigError, TransientError
from crmsync.sync_service.mailboxes.lifecycle import check_servers
from tests.conftest import Cli
from tests.connectors.test_network import Listener
from tests.fakes import graph_fixtures
from tests.fakes.graph_fixtures import unique
from tests.fakes.graph_server import Fault, GraphDouble

graph_double = graph_fixtures.graph_double
graph = graph_fixtures.graph

#: {port} is a loopback listener's: a refusal that still connected would be counted there
REFUSED_URLS = [
    "https://127.0.0.1:{port}", "https://localhost:{port}", "https://[::1]:{port}",
    "https://169.254.169.254", "https://[::ffff:127.0.0.1]:{port}",
    "https://[64:ff9b::7f00:1]:{port}", "https://2130706433:{port}",
    "https://0177.0.0.1:{port}", "https://10.0.0.8", "https://100.64.0.1",
    "http://127.0.0.1:{port}", "http://graph.microsoft.com", "https://8.8.8.8:8443",
    "https://8.8.8.8:{port}",
]
#: refused even where 127.0.0.1 (the double) is allowed
REFUSED_BESIDE_THE_DOUBLE = [
    "https://169.254.169.254", "https://10.0.0.8", "https://[::1]:{port}",
    "https://[::ffff:127.0.0.1]:{port}", "https://127.0.0.2:{port}",
]


@pytest.fixture
def no_allowance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", raising=False)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def sqlite_cli(sqlite_url: str) -> Cli:
    """The CLI on SQLite only: the check runs before the database is written to."""
    runner = Cli(sqlite_url)
    runner("db", "upgrade")
    return runner


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_every_refused_host_gets_the_same_refusal_and_no_packet(
    no_allowance, listener: Listener, url: str
) -> None:
    # The rule itself: each private, odd or plain-http target reads exactly REFUSED.
    with pytest.raises(ConfigError) as refused:
        check_url(url.format(port=listener.port))
    assert str(refused.value) == REFUSED
    with pytest.raises(ConfigError) as refused, pinned_session() as session:
        session.get(url.format(port=listener.port), timeout=2)
    assert str(refused.value) == REFUSED
    assert listener.accepted == 0


@pytest.mark.parametrize("url", ["ftp://8.8.8.8", "https://8.8.8.8:notaport", "https://",
                                 "8.8.8.8", "https://8.8.8.8:99999"])
def test_a_url_that_is_not_plain_https_is_refused_alike(no_allowance, url: str) -> None:
    # (requests itself rejects these before any adapter: the settings check is the guard)
    with pytest.raises(ConfigError) as refused:
        check_url(url)
    assert str(refused.value) == REFUSED


def test_a_public_https_host_on_443_is_pinned(no_allowance) -> None:
    # A literal public address resolves without the network; the default port is 443.
    assert check_url("https://8.8.8.8/v1.0") == ("8.8.8.8", "8.8.8.8")
    assert check_url("https://8.8.8.8:443") == ("8.8.8.8", "8.8.8.8")


@pytest.mark.parametrize("credential", [["--secret-env", "SECRET"], ["--delegated"]],
                         ids=["app-only", "delegated"])
@pytest.mark.parametrize("option", ["--authority-url", "--graph-url"])
@pytest.mark.parametrize("url", ["https://127.0.0.1:{port}", "https://169.254.169.254",
                                 "https://[::ffff:127.0.0.1]:{port}", "https://2130706433",
                                 "http://127.0.0.1:{port}", "https://8.8.8.8:8443"])
def test_an_admin_adding_a_forbidden_graph_host_is_told_at_once(
    no_allowance, listener: Listener, sqlite_cli: Cli, credential: list[str], option: str,
    url: str
) -> None:
    # mailbox add graph refuses the host before storing anything (app-only would store
    # without connecting) or signing in (delegated signs in at once); the answer is the
    # same for every target.
    result = sqlite_cli(
        "mailbox", "add", "graph", "cloud", "--tenant", "t", "--client-id", "c", *credential,
        "--address", "rep@northwind.example", option, url.format(port=listener.port),
        ok=False, env={"SECRET": "s3cret"})
    assert result.exit_code == 1
    assert result.output == f"crmsync: error: {REFUSED}\n"
    assert "cloud" not in sqlite_cli("mailbox", "list").output
    assert listener.accepted == 0


@pytest.mark.parametrize("key", ["authority_url", "graph_url"])
def test_every_way_of_adding_a_mailbox_refuses_a_forbidden_graph_host(
    no_allowance, key: str
) -> None:
    # The check the CLI's mailbox add and the console's Save and Test connection share.
    settings = {"tenant": "t", "client_id": "c", "address": "rep@northwind.example",
                key: "https://169.254.169.254"}
    with pytest.raises(ConfigError) as refused:
        check_servers("graph", settings)
    assert str(refused.value) == REFUSED
    check_servers("graph", {**settings, key: "https://8.8.8.8"})  # a public host passes


def _connector(graph: GraphDouble, authority_url: str, graph_url: str) -> GraphConnector:
    """A connector for a new mailbox of the double, with the hosts given."""
    address = f"{unique('rep')}@northwind.example"
    client_id = unique("app-")
    graph.register_app(client_id, secret="s3cret")
    graph.add_mailbox(address)
    return GraphConnector.from_settings(
        {"tenant": graph.tenant, "client_id": client_id, "address": address,
         "authority_url": authority_url, "graph_url": graph_url, "folders": ["inbox"]},
        "s3cret")


def _sync_inbox(connector: GraphConnector) -> list:
    with connector:
        return list(connector.fetch_changes("mail:inbox", None))


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_stored_forbidden_host_is_refused_at_connection_time(
    no_allowance, graph: GraphDouble, listener: Listener, url: str
) -> None:
    # Settings stored before the check (or edited in the database) are checked again
    # when the connector signs in: nothing is sent.
    target = url.format(port=listener.port)
    with pytest.raises(ConfigError) as refused:
        _sync_inbox(_connector(graph, target, target))
    assert str(refused.value) == REFUSED
    assert listener.accepted == 0


@pytest.mark.parametrize("url", REFUSED_BESIDE_THE_DOUBLE)
def test_a_forbidden_graph_host_is_refused_after_sign_in(
    graph: GraphDouble, listener: Listener, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    # Every request is checked, not only the first: the sign-in at the double (allowed)
    # succeeds, then the forbidden Graph host gets the same refusal and no packet.
    monkeypatch.setenv("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", "127.0.0.1/32")
    graph.reset_counts()
    with pytest.raises(ConfigError) as refused:
        _sync_inbox(_connector(graph, graph.base_url, url.format(port=listener.port)))
    assert str(refused.value) == REFUSED
    assert any(r.url.endswith("/oauth2/v2.0/token") for r in graph.requests)
    assert listener.accepted == 0


def test_the_double_itself_is_refused_when_loopback_is_not_allowed(
    graph: GraphDouble, no_allowance
) -> None:
    # The same double every Graph test uses: without the allowance no request reaches it.
    graph.reset_counts()
    with pytest.raises(ConfigError, match="not allowed"):
        _sync_inbox(_connector(graph, graph.base_url, graph.base_url))
    assert graph.requests == []


@pytest.mark.parametrize("location", ["https://169.254.169.254/latest/meta-data/",
                                      "http://127.0.0.1:{port}/", "https://10.0.0.8/"])
def test_a_redirect_cannot_lead_graph_requests_off_the_checked_hosts(
    graph: GraphDouble, listener: Listener, location: str
) -> None:
    # Graph (allowed) answers with a redirect to a forbidden target: the next hop is
    # checked like the first one and refused before any packet.
    graph.add_fault(Fault(match=lambda req: "/messages/delta" in req.path, status=302,
                          body={}, headers={"Location": location.format(port=listener.port)}))
    with pytest.raises(ConfigError) as refused:
        _sync_inbox(_connector(graph, graph.base_url, graph.base_url))
    assert str(refused.value) == REFUSED
    assert listener.accepted == 0


@pytest.mark.parametrize("which", ["authority", "graph"])
def test_a_mail_to_a_forbidden_host_is_refused_not_left_in_doubt(
    graph: GraphDouble, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    # The outbox may retry a refusal safely: nothing was sent, the point of no return
    # (just before sendMail) was not passed when the sign-in host was refused.
    monkeypatch.setenv("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", "127.0.0.1/32")
    hosts = {"authority": graph.base_url, "graph": graph.base_url,
             which: "https://169.254.169.254"}
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "s@x.example", "c@y.example", "Hi"
    message["Message-ID"] = "<refused@x.example>"
    reached: list[bool] = []
    sent_before = len(graph.sent)
    with _connector(graph, hosts["authority"], hosts["graph"]) as connector, \
            pytest.raises(SendRefusedError, match="not allowed"):
        connector.send(message, lambda: reached.append(True))
    assert reached == ([] if which == "authority" else [True])
    assert len(graph.sent) == sent_before


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``localhost`` answers 127.0.0.1 the first time and 127.0.0.2 afterwards (DNS rebinding).

    Only 127.0.0.1 is allowed, and nothing listens on 127.0.0.2: a connection that
    resolved the name again would be refused. (A stand-in resolver: no DNS server runs
    here. ``localhost`` because the double's certificate carries it.) Returns the names
    asked, in order.
    """
    monkeypatch.setenv("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", "127.0.0.1/32")
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding_getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        if host != "localhost":
            return real(host, port, *args, **kwargs)
        address = "127.0.0.1" if asked.count(host) == 1 else "127.0.0.2"
        return real(address, port, *args, **kwargs)

    monkeypatch.setattr(network.socket, "getaddrinfo", rebinding_getaddrinfo)
    return asked


def test_the_graph_connection_goes_to_the_address_that_was_checked(
    graph: GraphDouble, rebinding: list[str]
) -> None:
    # Sign-in at the double's address, then one Graph request to the rebinding name: it
    # reaches the double at the checked address, carrying the name in Host.
    hosts: list[str] = []
    graph.add_fault(Fault(match=lambda req: bool(hosts.append(req.host)), status=500, body={}))
    port = graph.base_url.rsplit(":", 1)[1]
    connector = _connector(graph, graph.base_url, f"https://localhost:{port}")
    connector.client.tokens.token(connector.settings.scope)  # sign in first, by address
    pages = _sync_inbox(connector)
    assert pages and pages[-1].cursor
    # the name was resolved once, by the check; the connection asked only for that address
    assert rebinding.count("localhost") == 1
    assert set(rebinding[rebinding.index("localhost") + 1:]) == {"127.0.0.1"}
    assert hosts == [f"localhost:{port}"]


def test_the_certificate_is_verified_for_the_name_not_the_address(
    graph: GraphDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name the double's certificate lacks, resolving to an address it carries: the TLS
    # check is for the name, so the connection fails before any Graph request is made.
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        return real("127.0.0.1" if host == "graph.elsewhere.example" else host, port,
                    *args, **kwargs)

    monkeypatch.setattr(network.socket, "getaddrinfo", resolve)
    port = graph.base_url.rsplit(":", 1)[1]
    graph.reset_counts()
    connector = _connector(graph, graph.base_url, f"https://graph.elsewhere.example:{port}")
    with pytest.raises(TransientError, match="SSLError"):
        _sync_inbox(connector)
    assert graph.graph_requests() == []
