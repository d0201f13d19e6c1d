"""Signing in to Exchange Server: NTLM (the default) end to end against the double, whose
NTLM acceptor is pyspnego's, and a wrong password as a mailbox status, not a retry loop."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Cli, load_sample_crm
from tests.ews.helpers import PASSWORD, add_ews_mailbox, mail_ids, mime, sync
from tests.fakes.ews_fixtures import unique_address
from tests.fakes.ews_server import EwsDouble

#: What these tests hold does not depend on the database (the engine's behaviour on
#: PostgreSQL is covered by test_ews_mail.py and the IMAP and Graph suites): SQLite only,
#: to keep the suite's time.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _mailbox_rows(cli: Cli) -> dict[str, dict]:
    rows = [json.loads(line) for line in cli("mailbox", "list", "--json").output.splitlines()]
    return {row["name"]: row for row in rows}


@pytest.mark.parametrize("form", ["down-level", "upn"])
def test_an_ntlm_mailbox_syncs_mail_end_to_end(cli: Cli, ews: EwsDouble, form: str) -> None:
    # NTLM is the default sign-in: DOMAIN\user and user@domain both sync the mailbox.
    load_sample_crm(cli)
    address = unique_address("ntlm")
    username = f"CONTOSO\\{address.split('@')[0]}" if form == "down-level" else address
    ews.add_user(username, PASSWORD, address)
    name, _ = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts", address=address,
                              username=username, auth="ntlm")
    ews.mailbox(address).add_item("inbox", mime=mime(1, message_id="<ntlm-1@acme.example>"))
    refused_before = ews.operations().count("?")
    assert "ok" in sync(cli, ews, name)
    assert mail_ids(cli) == ["<ntlm-1@acme.example>"]
    assert _mailbox_rows(cli)[name]["status"] == "ok"
    assert ews.operations().count("?") == refused_before  # no sign-in was refused
    # signed in by NTLM's handshake, never by Basic, and the requests acted as this user
    schemes = {scheme for scheme, user in ews.sign_ins if user == username.lower()}
    assert schemes == {"ntlm"}
    assert {r.user for r in ews.requests if r.mailbox == address} == {username.lower()}


def test_a_wrong_ntlm_password_needs_reauth_once_and_the_other_mailbox_syncs(
        cli: Cli, ews: EwsDouble) -> None:
    # The wrong password is one refused sign-in per run (no retry loop), the mailbox
    # "needs re-auth" with the fix in plain words, and the run goes on to the next mailbox.
    load_sample_crm(cli)
    wrong_address = unique_address("wrongpw")
    ews.add_user(wrong_address, PASSWORD)
    wrong, _ = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts",
                               address=wrong_address, username=wrong_address,
                               password="not-the-password", auth="ntlm")
    good, good_address = add_ews_mailbox(cli, ews, "--no-calendar", "--no-contacts",
                                         auth="ntlm")
    ews.mailbox(good_address).add_item("inbox", mime=mime(2, message_id="<ok-2@acme.example>"))
    for run in (1, 2):
        refused_before = ews.operations().count("?")
        cli("sync", "--once", ok=False, env={"REQUESTS_CA_BUNDLE": ews.ca_path})
        assert ews.operations().count("?") - refused_before == 1, f"run {run}"
    assert mail_ids(cli) == ["<ok-2@acme.example>"]
    rows = _mailbox_rows(cli)
    assert rows[good]["status"] == "ok"
    assert rows[wrong]["status"] == "needs re-auth"
    assert "check the user name and password" in rows[wrong]["last_error"]
    assert ews.operations(wrong_address) == []  # nothing was served to the wrong password
