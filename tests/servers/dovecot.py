"""A private Dovecot IMAP server for tests and benchmarks (Debian's ``dovecot-imapd``, 2.3).

Usage::

    server = DovecotServer()                 # or DovecotServer(tls=True, ca=trustme.CA())
    server.start()
    try:
        server.add_user("alice", "secret")
        server.append("alice", "INBOX", raw_bytes, flags=(r"\\Seen",))
        with server.connect("alice") as client:   # a logged-in imapclient.IMAPClient
            client.select_folder("INBOX")
    finally:
        server.stop()

The server runs in the foreground (``dovecot -F``) with its own config in a temporary
directory, on 127.0.0.1 and a free port; nothing under /etc is touched. It works as root
(mail owned by uid 65534) and as an ordinary user (mail owned by that user). The
configuration is ``_CONFIG`` below; its settings are Dovecot 2.3's
(https://doc.dovecot.org/2.3/configuration_manual/).
"""

from __future__ import annotations

import getpass
import itertools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from imapclient import IMAPClient

from tests.servers import free_port

if TYPE_CHECKING:
    import trustme

DOVECOT_BINARY = "/usr/sbin/dovecot"
#: uid/gid the mail files belong to when the server runs as root
MAIL_UID = 65534

_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechanisms}
# Tests expect refusals at once, not after Dovecot's anti-guessing delay.
auth_failure_delay = 0
default_internal_user = {internal_user}
default_login_user = {login_user}
mail_location = {mail_location}
{capability}
namespace inbox {{
  inbox = yes
{special_use}
}}
{oauth2_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/users/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mailroot}/%u
}}
# bench/scale.py keeps 1,000+ IDLE connections open (Debian's default is 1,024)
service imap {{
  process_limit = 4096
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
"""


class DovecotServer:
    """One private Dovecot; ``start()`` it, ``add_user()``, then connect to ``host:port``.

    :param capabilities: replaces Dovecot's advertised post-login capability list
        (``imap_capability``), e.g. to run a server that does not offer CONDSTORE and
        QRESYNC; ``None`` keeps Dovecot's own list.
    :param tls: serve ``ssl = yes``: STARTTLS on :attr:`port` and implicit TLS on
        :attr:`imaps_port`, with a certificate for ``127.0.0.1``/``localhost`` issued
        by ``ca`` (a ``trustme.CA``; one is created when omitted and kept in :attr:`ca`).
    :param special_use: folder name → RFC 6154 flag (``{"Sent Things": "\\Sent"}``).
    :param oauth2_introspection_url: also accept XOAUTH2/OAUTHBEARER logins, checking
        each access token with this RFC 7662 introspection endpoint (Dovecot's oauth2
        passdb POSTs ``token=...`` and reads ``active`` and ``username``).
        Dovecot takes SPECIAL-USE from its config only (it ignores ``CREATE ... USE``),
        so the flags are set here for every user; :meth:`create_folder` creates them.
    :param mail_location: Dovecot's ``mail_location``; the default Maildir is what
        the benchmarks write into directly. ``mdbox:~/mdbox`` keeps expunges in the
        index, so a SELECT after one does not read a directory of every message.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        capabilities: str | None = None,
        tls: bool = False,
        ca: trustme.CA | None = None,
        special_use: Mapping[str, str] | None = None,
        oauth2_introspection_url: str | None = None,
        mail_location: str = "maildir:~/Maildir",
    ) -> None:
        self.mail_location = mail_location
        self.special_use = dict(special_use or {})
        self.oauth2_introspection_url = oauth2_introspection_url
        self.capabilities = capabilities
        self.tls = tls
        if tls and ca is None:
            import trustme

            ca = trustme.CA()
        self.ca = ca
        self.port = 0
        self.imaps_port = 0
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._passwords: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        """Write the config into a new temporary directory, start Dovecot, wait for the port.

        :raises RuntimeError: Dovecot exited or did not listen within ``timeout``
            (its log is included).
        """
        if self._process is not None:
            raise RuntimeError("DovecotServer already started")
        self._dir = Path(tempfile.mkdtemp(prefix="crmsync-dovecot-"))
        # Dovecot's login and mail processes run as other users: they must traverse it.
        self._dir.chmod(0o755)
        self.port = free_port(self.host)
        self.imaps_port = free_port(self.host) if self.tls else 0
        self._write_config()
        self._process = subprocess.Popen(
            [DOVECOT_BINARY, "-F", "-c", str(self._dir / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_until_listening(timeout)

    def stop(self) -> None:
        """Stop Dovecot by its pid (master and children) and remove every file it used."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGTERM to the master makes it stop its children before exiting.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None and process.stderr is not None:
            process.stderr.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log(self) -> str:
        """Return Dovecot's log so far (useful in assertion messages)."""
        path = self._path("dovecot.log")
        return path.read_text(errors="replace") if path.exists() else ""

    # -- users and mail ----------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add a mail user; Dovecot re-reads the passwd-file on its next login."""
        if ":" in name or "/" in name or "\n" in name + password:
            raise ValueError("user names cannot hold ':' or '/', nor either a newline")
        self._passwords[name] = password
        # One passwd-file per user: Dovecot caches a passwd-file until its mtime (whole
        # seconds) changes, so users added to one shared file could stay unknown.
        (self._path("users") / name).write_text(f"{name}:{{PLAIN}}{password}::::::\n")

    @contextmanager
    def connect(self, user: str) -> Iterator[IMAPClient]:
        """Yield an :class:`IMAPClient` logged in as ``user`` over the plain port."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        try:
            client.login(user, self._passwords[user])
            yield client
        finally:
            try:
                client.logout()
            except (OSError, IMAPClient.Error):
                client.shutdown()

    def append(
        self,
        user: str,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """APPEND one message to ``folder`` of ``user`` and return its UID.

        :param internal_date: the INTERNALDATE to set (a naive datetime is local time).
        """
        with self.connect(user) as client:
            return _appended_uid(client.append(folder, raw, tuple(flags), internal_date))

    def append_many(self, user: str, folder: str, raws: Iterable[bytes]) -> list[int]:
        """APPEND each of ``raws`` to ``folder`` of ``user`` in one session; return the UIDs."""
        with self.connect(user) as client:
            return [_appended_uid(client.append(folder, raw)) for raw in raws]

    def create_folder(self, user: str, name: str, special_use: str | None = None) -> None:
        r"""Create folder ``name`` for ``user``.

        :param special_use: the flag the folder must carry (``\Sent``); it must have been
            given to the constructor's ``special_use``, as Dovecot only takes it from config.
        :raises ValueError: ``special_use`` was not configured for ``name``.
        """
        if special_use is not None and self.special_use.get(name) != special_use:
            raise ValueError(
                f"pass special_use={{{name!r}: {special_use!r}}} to DovecotServer() first"
            )
        with self.connect(user) as client:
            client.create_folder(name)

    def reset_uidvalidity(self, user: str, folder: str) -> None:
        """Give ``folder`` a new UIDVALIDITY, its messages kept (new UIDs): RENAME it away,
        CREATE it again and MOVE the messages back."""
        with self.connect(user) as client:
            client.rename_folder(folder, folder + "-old")
            client.create_folder(folder)
            client.select_folder(folder + "-old")
            client.move(client.search("ALL"), folder)
            client.unselect_folder()
            client.delete_folder(folder + "-old")

    def client_ssl_context(self) -> ssl.SSLContext:
        """Return a client context that trusts this server's CA (only with ``tls=True``)."""
        if self.ca is None:
            raise RuntimeError("this server was started without tls")
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    # -- internals ---------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self._dir is None:
            raise RuntimeError("DovecotServer is not started")
        return self._dir / name

    def _write_config(self) -> None:
        assert self._dir is not None
        mailroot = self._dir / "mail"
        mailroot.mkdir()
        self._path("users").mkdir()
        is_root = os.geteuid() == 0
        if is_root:
            # Dovecot writes the mail as the userdb uid and creates each home itself.
            os.chown(mailroot, MAIL_UID, MAIL_UID)
            uid = gid = MAIL_UID
            internal_user, login_user = "dovecot", "dovenull"
        else:
            uid, gid = os.getuid(), os.getgid()
            internal_user = login_user = getpass.getuser()
        config = _CONFIG.format(
            dir=self._dir,
            mailroot=mailroot,
            port=self.port,
            imaps_port=self.imaps_port,
            uid=uid,
            gid=gid,
            internal_user=internal_user,
            login_user=login_user,
            ssl="yes" if self.tls else "no",
            ssl_files=self._write_certificate(),
            special_use="\n".join(
                f'  mailbox "{name}" {{\n    special_use = {flag}\n  }}'
                for name, flag in self.special_use.items()
            ),
            capability=f"imap_capability = {self.capabilities}" if self.capabilities else "",
            mail_location=self.mail_location,
            **self._oauth2_settings(),
        )
        self._path("dovecot.conf").write_text(config)

    def _oauth2_settings(self) -> dict[str, str]:
        if not self.oauth2_introspection_url:
            return {"oauth2_mechanisms": "", "oauth2_passdb": ""}
        self._path("oauth2.conf.ext").write_text(
            "introspection_mode = post\n"
            f"introspection_url = {self.oauth2_introspection_url}\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
        )
        passdb = (
            "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {self._path('oauth2.conf.ext')}\n}}\n"
        )
        return {"oauth2_mechanisms": " xoauth2 oauthbearer", "oauth2_passdb": passdb}

    def _write_certificate(self) -> str:
        if not self.tls:
            return ""
        assert self.ca is not None
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        cert.cert_chain_pems[0].write_to_path(str(self._path("cert.pem")))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(self._path("cert.pem")), append=True)
        cert.private_key_pem.write_to_path(str(self._path("key.pem")))
        return f"ssl_cert = <{self._path('cert.pem')}\nssl_key = <{self._path('key.pem')}"

    def _wait_until_listening(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        ports = [self.port] + ([self.imaps_port] if self.tls else [])
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
                log = self.log
                self.stop()
                raise RuntimeError(f"dovecot exited: {err}\n{log}")
            if all(_accepts(self.host, port) for port in ports):
                return
            time.sleep(0.05)
        log = self.log
        self.stop()
        raise RuntimeError(f"dovecot did not listen on {ports} within {timeout}s\n{log}")


def _appended_uid(response: bytes | str) -> int:
    """Return the UID in Dovecot's answer "[APPENDUID <uidvalidity> <uid>] Append completed."."""
    text = response.decode() if isinstance(response, bytes) else str(response)
    return int(text.split("APPENDUID", 1)[1].split()[1].rstrip("]"))


_user_numbers = itertools.count(1)


def new_user(server: DovecotServer, password: str | None = None) -> str:
    """Add a user no other test on ``server`` has; the password is ``pw-<name>`` unless given.

    One counter for every caller: test modules share the session's servers.
    """
    name = f"user{next(_user_numbers)}"
    server.add_user(name, "pw-" + name if password is None else password)
    return name


def _accepts(host: str, port: int) -> bool:
    """Return whether ``host:port`` accepts a TCP connection now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
