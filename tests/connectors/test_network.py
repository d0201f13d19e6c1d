"""A6: a mailbox's host can point crmsync only at a public mail server, at the checked address.

The refused targets get one and the same answer and no packet: a listener on loopback
counts the connections that reach it. The suite allows loopback for every other test
(tests/conftest.py); here the allowance is taken away.
"""

from __future__ import annotations

import socket
import threading
from email.message import EmailMessage

import pytest

from crmsync.connectors import network
from crmsync.connectors.base import SendRefusedError
from crmsync.connectors.imap.session import open_session
from crmsync.connectors.imap.settings import ImapSettings
from crmsync.connectors.network import IMAP_PORTS, REFUSED, pin
from crmsync.connectors.smtp import SmtpSettings, submit
from crmsync.errors import ConfigError
from tests.servers.dovecot import DovecotServer, new_user

REFUSED_TARGETS = [
    ("127.0.0.1", 993), ("localhost", 993), ("::1", 993), ("[::1]", 993),
    ("169.254.169.254", 993), ("10.0.0.8", 993), ("172.16.0.1", 993), ("192.168.1.1", 993),
    ("100.64.0.1", 993), ("0.0.0.0", 993), ("::ffff:127.0.0.1", 993),
    ("64:ff9b::7f00:1", 993), ("2002:7f00:1::", 993), ("2130706433", 993),
    ("0177.0.0.1", 993), ("0x7f.0.0.1", 993), ("127.1", 993), ("fe80::1", 993),
    ("224.0.0.1", 993), ("8.8.8.8", 22), ("8.8.8.8", 6379), ("not a host", 993),
]


@pytest.fixture
def no_allowance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMSYNC_ALLOWED_PRIVATE_NETWORKS", raising=False)


@pytest.mark.parametrize(("host", "port"), REFUSED_TARGETS,
                         ids=[f"{h}:{p}" for h, p in REFUSED_TARGETS])
def test_every_private_or_odd_target_gets_the_same_refusal(no_allowance, host: str,
                                                           port: int) -> None:
    with pytest.raises(ConfigError) as refused:
        pin(host, port, IMAP_PORTS)
    assert str(refused.value) == REFUSED


def test_a_public_address_on_a_mail_port_is_pinned_as_is(no_allowance) -> None:
    assert pin("8.8.8.8", 993, IMAP_PORTS) == "8.8.8.8"  # resolving a literal: no network


class Listener:
    """A TCP listener on loopback that counts who reached it."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        self.socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.socket.close()


def test_refused_imap_and_smtp_servers_are_never_contacted(no_allowance) -> None:
    listener = Listener()
    try:
        with pytest.raises(ConfigError, match="not allowed"):
            open_session(ImapSettings(host="127.0.0.1", port=listener.port, security="none",
                                      username="u"), "pw")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.example", "b@y.example", "s"
        with pytest.raises(SendRefusedError, match="not allowed"):
            submit(SmtpSettings("127.0.0.1", listener.port, "none", ""), "pw", message)
    finally:
        listener.close()
    assert listener.accepted == 0


def test_the_connection_goes_to_the_address_that_was_checked(
    dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the name answers an allowed address when checked and a forbidden one
    # afterwards. (A stand-in resolver: there is no DNS server to run here.) The session
    # still reaches Dovecot, because it connects to the address it checked.
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host, port, *args, **kwargs):
        asked.append(host)
        if host != "mail.rebind.example":
            return real(host, port, *args, **kwargs)
        address = dovecot.host if asked.count(host) == 1 else "10.0.0.99"
        return real(address, port, *args, **kwargs)

    monkeypatch.setattr(network.socket, "getaddrinfo", rebinding)
    user = new_user(dovecot)
    client = open_session(ImapSettings(host="mail.rebind.example", port=dovecot.port,
                                       security="none", username=user, timeout=5),
                          "pw-" + user)
    try:
        assert client.noop()
    finally:
        client.logout()
    # the name was resolved once, by the check; the connection asked only for that address
    assert asked.count("mail.rebind.example") == 1
    assert asked[asked.index("mail.rebind.example") + 1:] == [dovecot.host]


def test_an_admin_adding_a_private_server_is_told_at_once(no_allowance, cli) -> None:
    result = cli("mailbox", "add", "imap", "inside", "--host", "169.254.169.254",
                 "--port", "993", "--username", "u", "--password-env", "PW",
                 env={"PW": "pw"}, ok=False)
    assert result.exit_code != 0 and REFUSED in result.output
    assert "inside" not in cli("mailbox", "list").output
    result = cli("mailbox", "add", "imap", "relay", "--host", "8.8.8.8", "--port", "993",
                 "--username", "u", "--password-env", "PW", "--smtp-host", "10.1.1.1",
                 env={"PW": "pw"}, ok=False)
    assert result.exit_code != 0 and REFUSED in result.output
