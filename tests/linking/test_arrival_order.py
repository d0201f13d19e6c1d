"""A reply stored before its parent ends with the links it would have had in date order.

A first sync lists newest first (IMAP) and mbox files come in any order: the parent's
subject token, deal or case must still reach the reply, a person's link and a person's
removal must still win, and the result must not depend on the order.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crmsync.crm.models import Account, Activity, Opportunity, User
from crmsync.crm.tracking import Target, track, untrack
from tests.conftest import Cli, load_sample_crm
from tests.engine.mailboxes import add_mailbox, new_user, sync
from tests.linking.labelled import LABELLED
from tests.linking.test_labelled_set import _load as load_labelled_crm
from tests.servers.dovecot import DovecotServer

#: the customer (Acme) asks about Globex's deal by its token; Acme has one open deal of its own
PARENT = (
    b"Message-ID: <p-1@acme.example>\r\nFrom: ana.ruiz@acme.example\r\n"
    b"To: maria.lopez@northwind.example\r\nSubject: Pilot terms [opp-2]\r\n"
    b"Date: Mon, 2 Mar 2026 09:00:00 +0000\r\n\r\nSee terms.\r\n"
)
#: our answer: the token fell off the subject
REPLY = (
    b"Message-ID: <r-1@northwind.example>\r\nFrom: maria.lopez@northwind.example\r\n"
    b"To: ana.ruiz@acme.example\r\nSubject: Re: Pilot terms\r\n"
    b"In-Reply-To: <p-1@acme.example>\r\nReferences: <p-1@acme.example>\r\n"
    b"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nAgreed.\r\n"
)
#: her answer to ours, naming only its parent (no References): a chain
REPLY2 = (
    b"Message-ID: <r-2@acme.example>\r\nFrom: tom.becker@acme.example\r\n"
    b"To: maria.lopez@northwind.example\r\nSubject: RE: Re: Pilot terms\r\n"
    b"In-Reply-To: <r-1@northwind.example>\r\n"
    b"Date: Mon, 2 Mar 2026 11:00:00 +0000\r\n\r\nThanks.\r\n"
)
MAILS = {"parent": PARENT, "reply": REPLY, "reply2": REPLY2}
IDS = {"parent": "<p-1@acme.example>", "reply": "<r-1@northwind.example>",
       "reply2": "<r-2@acme.example>"}
INHERITED = "reply in a conversation crmsync linked to opportunity Globex pilot"


def _write(tmp_path: Path, names: list[str]) -> list[str]:
    paths = []
    for n, name in enumerate(names):
        path = tmp_path / f"{n}-{name}.eml"
        path.write_bytes(MAILS[name])
        paths.append(str(path))
    return paths


def _links(cli: Cli) -> dict[str, set[tuple[str, str, str, float, str]]]:
    """Every mail's links: (type, external id, source, confidence, reason)."""
    return {
        a["internet_message_id"]: {
            (x["type"], x["external_id"], x["source"], x["confidence"], x["reason"])
            for x in a["links"]
        }
        for a in cli.export_activities()
    }


def _deals(links: set[tuple[str, str, str, float, str]]) -> dict[str, tuple[float, str]]:
    return {ext: (conf, reason) for kind, ext, _, conf, reason in links if kind == "opportunity"}


def test_reply_imported_before_its_parent_inherits_the_token(cli: Cli, tmp_path: Path) -> None:
    # Two files, reply first (two pages): the reply names the parent's deal, as in date order.
    load_sample_crm(cli)
    cli("mail", "import", *_write(tmp_path, ["reply", "parent"]))
    links = _links(cli)
    assert _deals(links[IDS["reply"]]) == {"opp-2": (0.9, INHERITED)}
    # the participants alone would say Acme's only open deal: the conversation beats them
    assert ("account", "acc-acme") in {(k, e) for k, e, *_ in links[IDS["reply"]]}
    # and the parent takes nothing from its reply
    assert _deals(links[IDS["parent"]]) == {
        "opp-2": (0.98, "subject names opportunity Globex pilot (opp-2)")
    }


def test_reverse_mbox_in_one_page(cli: Cli, tmp_path: Path) -> None:
    # One mbox, newest first: reply and parent in the same page.
    load_sample_crm(cli)
    mbox = tmp_path / "reverse.mbox"
    mbox.write_bytes(b"".join(
        b"From MAILER-DAEMON Mon Mar  2 09:00:00 2026\r\n" + MAILS[name] + b"\r\n"
        for name in ("reply2", "reply", "parent")
    ))
    cli("mail", "import", str(mbox))
    links = _links(cli)
    assert _deals(links[IDS["reply"]]) == {"opp-2": (0.9, INHERITED)}
    assert _deals(links[IDS["reply2"]]) == {"opp-2": (0.9, INHERITED)}


@pytest.mark.parametrize("order", list(itertools.permutations(MAILS)))
def test_links_do_not_depend_on_arrival_order(order: tuple[str, ...], tmp_path: Path) -> None:
    # Every order of a three-mail thread, one page per mail, gives the date-order links.
    results = []
    for run, names in enumerate((["parent", "reply", "reply2"], list(order))):
        cli = Cli(f"sqlite:///{tmp_path / f'run{run}.db'}")
        cli("db", "upgrade")
        load_sample_crm(cli)
        folder = tmp_path / f"files{run}"
        folder.mkdir()
        cli("mail", "import", *_write(folder, names))
        results.append(_links(cli))
    assert results[1] == results[0]
    assert _deals(results[0][IDS["reply2"]]) == {"opp-2": (0.9, INHERITED)}


def _activity(session, message_id: str) -> Activity:
    return session.scalars(
        select(Activity).where(Activity.internet_message_id == message_id)
    ).one()


def test_a_persons_link_and_removal_win_over_the_late_parent(cli: Cli, tmp_path: Path) -> None:
    # The reply came first; a rep linked it to Acme's renewal and took the Acme account off.
    # The parent arrives: the reply inherits nothing that contradicts the rep.
    load_sample_crm(cli)
    cli("mail", "import", *_write(tmp_path, ["reply"]))
    now = datetime(2026, 3, 3, tzinfo=UTC)
    with cli.session() as session:
        rep = session.scalars(select(User).where(User.email == "maria.lopez@northwind.example")
                              ).one()
        renewal = session.scalars(select(Opportunity).where(Opportunity.external_id == "opp-1")
                                  ).one()
        acme = session.scalars(select(Account).where(Account.external_id == "acc-acme")).one()
        reply = _activity(session, IDS["reply"])
        track(session, reply, Target("opportunity", renewal.id), rep.id, now)
        untrack(session, reply, Target("account", acme.id), rep.id, now)
        session.commit()
    cli("mail", "import", *_write(tmp_path, ["parent"]))
    links = _links(cli)[IDS["reply"]]
    assert {(k, e, s) for k, e, s, *_ in links if k != "contact"} == {
        ("opportunity", "opp-1", "user")
    }


def test_dovecot_first_sync_pages_reply_before_parent(cli: Cli, dovecot: DovecotServer) -> None:
    # A first sync, newest first, one mail per page: the reply is stored a page before its
    # parent and still ends linked to the parent's deal, as a sync in date order would.
    load_sample_crm(cli)
    user = new_user(dovecot)
    for raw in (PARENT, REPLY, REPLY2):
        dovecot.append(user, "INBOX", raw)
    name = add_mailbox(cli, dovecot, user)
    with cli.session() as session:
        from crmsync.crm.models import Mailbox
        mailbox = session.scalars(select(Mailbox).where(Mailbox.name == name)).one()
        # one mail per page and per window: newest first, as a large mailbox's windows go
        mailbox.settings = {**mailbox.settings, "batch_size": 1, "backfill_window": 1}
        session.commit()
    assert "3 captured" in sync(cli, name)
    links = _links(cli)
    assert _deals(links[IDS["reply"]]) == {"opp-2": (0.9, INHERITED)}
    assert _deals(links[IDS["reply2"]]) == {"opp-2": (0.9, INHERITED)}


#: a fourth and fifth mail: a side reply to the parent, and an answer to it quoting the chain
SIDE = (
    b"Message-ID: <r-3@acme.example>\r\nFrom: ana.ruiz@acme.example\r\n"
    b"To: maria.lopez@northwind.example\r\nSubject: Re: Pilot terms\r\n"
    b"In-Reply-To: <p-1@acme.example>\r\nReferences: <p-1@acme.example>\r\n"
    b"Date: Mon, 2 Mar 2026 12:00:00 +0000\r\n\r\nOne more thing.\r\n"
)
SIDE2 = (
    b"Message-ID: <r-4@northwind.example>\r\nFrom: maria.lopez@northwind.example\r\n"
    b"To: tom.becker@acme.example\r\nSubject: Re: Pilot terms\r\n"
    b"In-Reply-To: <r-3@acme.example>\r\n"
    b"References: <p-1@acme.example> <r-3@acme.example>\r\n"
    b"Date: Mon, 2 Mar 2026 13:00:00 +0000\r\n\r\nNoted.\r\n"
)
THREAD = [PARENT, REPLY, REPLY2, SIDE, SIDE2]


def _import_pages(cli: Cli, folder: Path, pages: list[list[bytes]]) -> None:
    """Import ``pages`` in order, each an mbox file (one page of the writer)."""
    folder.mkdir()
    paths = []
    for n, page in enumerate(pages):
        path = folder / f"{n}.mbox"
        path.write_bytes(b"".join(
            b"From MAILER-DAEMON Mon Mar  2 09:00:00 2026\r\n" + raw + b"\r\n" for raw in page
        ))
        paths.append(str(path))
    cli("mail", "import", *paths)


def _fresh(path: Path) -> Cli:
    cli = Cli(f"sqlite:///{path}")
    cli("db", "upgrade")
    load_sample_crm(cli)
    return cli


@pytest.fixture(scope="module")
def date_order_links(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("date-order")
    cli = _fresh(tmp / "date.db")
    _import_pages(cli, tmp / "files", [[raw] for raw in THREAD])
    return _links(cli)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(THREAD))), cuts=st.sets(st.integers(1, len(THREAD) - 1)))
def test_any_order_and_paging_gives_the_date_order_links(
    date_order_links: dict, tmp_path_factory: pytest.TempPathFactory,
    order: list[int], cuts: set[int],
) -> None:
    # Whatever order the five mails arrive in, and however they fall into pages, every
    # mail ends with exactly the links (reasons and confidences too) of date order.
    tmp = tmp_path_factory.mktemp("any-order")
    bounds = [0, *sorted(cuts), len(THREAD)]
    pages = [[THREAD[i] for i in order[a:b]] for a, b in itertools.pairwise(bounds)]
    cli = _fresh(tmp / "any.db")
    _import_pages(cli, tmp / "files", pages)
    assert _links(cli) == date_order_links


def _mbox_messages(path: Path) -> list[bytes]:
    """Split an mbox into its messages (read only: ``mailbox.mbox`` opens files for writing)."""
    parts = re.split(rb"^From .*\r?\n", path.read_bytes(), flags=re.MULTILINE)
    return [part for part in parts if part.strip()]


def test_the_labelled_set_in_reverse_gives_the_same_links(tmp_path: Path) -> None:
    # The labelled mailbox newest first (as an IMAP first sync lists it) links every mail
    # exactly as in date order: the same targets, reasons and confidences.
    results = []
    for run, reverse in enumerate((False, True)):
        cli = Cli(f"sqlite:///{tmp_path / f'labelled{run}.db'}")
        cli("db", "upgrade")
        load_labelled_crm(cli)
        raws = _mbox_messages(LABELLED / "mailbox.mbox")
        _import_pages(cli, tmp_path / f"labelled{run}", [raws[::-1] if reverse else raws])
        results.append(_links(cli))
    assert len(results[0]) > 250
    assert results[1] == results[0]


def test_relink_keeps_the_conversation_links_of_a_reverse_import(
    date_order_links: dict, tmp_path: Path
) -> None:
    # `crmsync relink` after a newest-first import changes nothing: it decides the
    # conversation in the same order as the sync, not in the order rows were stored.
    cli = _fresh(tmp_path / "relink.db")
    _import_pages(cli, tmp_path / "files", [[raw] for raw in reversed(THREAD)])
    assert _links(cli) == date_order_links
    cli("relink", "--since", "2026-01-01")
    assert _links(cli) == date_order_links
