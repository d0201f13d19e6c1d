"""`mailbox add ews --autodiscover`: the EWS URL found once with POX Autodiscover on the
address's own domain, under rule A6 (credentials never leave that domain, and the URL found
must be a public https one there), against a TLS server playing the Autodiscover hosts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import Result
from sqlalchemy import select

from crmsync.connectors.network import REFUSED
from crmsync.crm.models import Mailbox
from tests.conftest import Cli, load_sample_crm
from tests.ews.helpers import PASSWORD, mail_ids, mime, sync
from tests.fakes.ews_autodiscover import AutodiscoverDouble, Reply, resolving
from tests.fakes.ews_fixtures import unique_address
from tests.fakes.ews_server import EwsDouble

#: What these tests hold does not depend on the database (the engine's behaviour on
#: PostgreSQL is covered by test_ews_mail.py and the IMAP and Graph suites): SQLite only,
#: to keep the suite's time.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

AD_HOST = "autodiscover.contoso.com"
FOREIGN_HOST = "autodiscover.evil.example"
FOREIGN_AD_URL = f"https://{FOREIGN_HOST}/autodiscover/autodiscover.xml"


@pytest.fixture
def autodiscover(ews: EwsDouble, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[AutodiscoverDouble]:
    """contoso.com's Autodiscover hosts and a foreign one, on one server; mail.contoso.com
    is the EWS double, ews.contoso.com resolves to the cloud metadata address."""
    double = AutodiscoverDouble(
        ews.ca, ["contoso.com", AD_HOST, FOREIGN_HOST],
        accepts=lambda user, password: ews.users.get(user.lower(), ("",))[0] == password,
    ).start()
    resolving(monkeypatch, {"contoso.com": double.address, AD_HOST: double.address,
                            FOREIGN_HOST: double.address, "mail.contoso.com": "127.0.0.1",
                            "ews.contoso.com": "169.254.169.254"},
              fake_domains=("contoso.com", "evil.example"))
    yield double
    double.stop()


def _add(cli: Cli, ews: EwsDouble, *extra: str, ok: bool = True) -> tuple[str, Result]:
    address = unique_address("ad")
    ews.add_user(address, PASSWORD)
    name = f"ad-{address.split('@')[0]}"
    result = cli("mailbox", "add", "ews", name, "--username", address, "--password-env",
                 "EWS_PASSWORD", "--auth", "basic", "--owner",
                 "maria.lopez@northwind.example", "--no-calendar", "--no-contacts", *extra,
                 ok=ok, env={"EWS_PASSWORD": PASSWORD})
    return address, result


def _stored_urls(cli: Cli) -> list[str]:
    with cli.session() as session:
        return [m.settings.get("url") for m in session.scalars(select(Mailbox))]


def test_the_url_found_is_stored_and_the_mailbox_syncs_without_asking_again(
        cli: Cli, ews: EwsDouble, autodiscover: AutodiscoverDouble) -> None:
    # contoso.com itself has no Autodiscover (404), autodiscover.contoso.com answers.
    load_sample_crm(cli)
    port = ews.base_url.rsplit(":", 1)[1]
    ews_url = f"https://mail.contoso.com:{port}/EWS/Exchange.asmx"
    autodiscover.replies[AD_HOST] = Reply("settings", ews_url)
    address, _ = _add(cli, ews, "--autodiscover")
    assert _stored_urls(cli) == [ews_url]
    assert [s.host for s in autodiscover.seen] == ["contoso.com", AD_HOST]
    assert all(s.email == address for s in autodiscover.seen)
    ews.mailbox(address).add_item("inbox", mime=mime(7, message_id="<ad-7@acme.example>"))
    asked = len(autodiscover.seen)
    assert "ok" in sync(cli, ews, f"ad-{address.split('@')[0]}")
    assert mail_ids(cli) == ["<ad-7@acme.example>"]
    assert len(autodiscover.seen) == asked  # syncing used the stored URL


@pytest.mark.parametrize("kind,target,named", [
    ("http302", FOREIGN_AD_URL, FOREIGN_HOST),
    ("redirectUrl", FOREIGN_AD_URL, FOREIGN_HOST),
    ("redirectAddr", "rep@evil.example", "rep@evil.example"),
])
def test_a_redirect_to_another_domain_is_refused_and_never_gets_the_password(
        cli: Cli, ews: EwsDouble, autodiscover: AutodiscoverDouble, kind: str, target: str,
        named: str) -> None:
    # The foreign host would answer with settings if asked: it must never be asked.
    load_sample_crm(cli)
    autodiscover.replies[AD_HOST] = Reply(kind, target)
    autodiscover.replies[FOREIGN_HOST] = Reply(
        "settings", "https://mail.evil.example/EWS/Exchange.asmx")
    _, result = _add(cli, ews, "--autodiscover", ok=False)
    assert result.exit_code != 0
    assert named in result.output and "outside contoso.com: refused" in result.output
    assert autodiscover.seen_by(FOREIGN_HOST) == []
    assert autodiscover.seen_by(AD_HOST)[0].authorization  # contoso's own host did sign in
    assert _stored_urls(cli) == []


@pytest.mark.parametrize("found", [
    "https://169.254.169.254/EWS/Exchange.asmx",
    "https://ews.contoso.com/EWS/Exchange.asmx",  # resolves to 169.254.169.254
    "http://mail.contoso.com/EWS/Exchange.asmx",
    "https://mail.evil.example/EWS/Exchange.asmx",
])
def test_an_ews_url_found_on_a_private_address_plain_http_or_elsewhere_is_refused(
        cli: Cli, ews: EwsDouble, autodiscover: AutodiscoverDouble, found: str) -> None:
    # The same refusal as a --url on such an address: nothing is stored or asked of it.
    load_sample_crm(cli)
    autodiscover.replies[AD_HOST] = Reply("settings", found)
    address, result = _add(cli, ews, "--autodiscover", ok=False)
    assert result.exit_code != 0
    assert REFUSED in result.output
    assert _stored_urls(cli) == []
    assert ews.operations(address) == []


def test_exchange_online_found_points_to_mailbox_add_graph(
        cli: Cli, ews: EwsDouble, autodiscover: AutodiscoverDouble) -> None:
    # A mailbox Autodiscover places in Exchange Online is synced through Graph.
    load_sample_crm(cli)
    autodiscover.replies[AD_HOST] = Reply(
        "settings", "https://outlook.office365.com/EWS/Exchange.asmx")
    _, result = _add(cli, ews, "--autodiscover", ok=False)
    assert "mailbox add graph" in result.output
    assert _stored_urls(cli) == []


def test_url_and_autodiscover_are_exclusive(cli: Cli, ews: EwsDouble) -> None:
    # Exactly one of the two: neither, or both, is refused before anything is asked.
    load_sample_crm(cli)
    for extra in ((), ("--autodiscover", "--url", ews.url)):
        _, result = _add(cli, ews, *extra, ok=False)
        assert "exactly one of --url and --autodiscover" in result.output
    assert _stored_urls(cli) == []
