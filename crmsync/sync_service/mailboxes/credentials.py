"""Encryption at rest for mailbox credentials.

AES-256-GCM with the mailbox name as associated data, so a ciphertext copied onto another
mailbox's row does not decrypt. The key is derived with HKDF-SHA256 from
``CRMSYNC_SECRET_KEY``, else from a key file (mode 0600) created on first use in the
user's configuration directory (``CRMSYNC_KEY_FILE``), never beside the database: one
backup must not hold both the credentials and their key.

Each sealed value names the key that sealed it (``v2`` + a 4-byte key id), so keys can
be rotated with no downtime: put the new key in ``CRMSYNC_SECRET_KEY`` and the old one in
``CRMSYNC_OLD_SECRET_KEYS`` (both decrypt), run ``crmsync secrets rotate`` (every
credential re-sealed with the new key), then drop the old key. Values sealed before key
ids existed (``v1``: a SHA-256 of the secret, or the key file's bytes) still open.

A process that finds sealed credentials but no key refuses to start, with the fix in the
message, instead of making a new key that opens none of them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crmsync.errors import ConfigError, CrmSyncError

log = logging.getLogger(__name__)
LEGACY = b"v1"
VERSION = b"v2"
_SALT = b"crmsync mailbox credentials"


class SecretUnreadableError(CrmSyncError):
    """A stored credential does not decrypt (wrong key, tampered, or moved row)."""


@dataclass(frozen=True)
class Key:
    """One key: the AES key derived from a secret, its id, and the pre-v2 derivation."""

    aes: bytes
    legacy: bytes

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.aes).digest()[:4]

    @classmethod
    def from_secret(cls, secret: bytes, legacy: bytes | None = None) -> Key:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                       info=b"aes-256-gcm v2").derive(secret)
        return cls(derived, legacy if legacy is not None else hashlib.sha256(secret).digest())


def key_file_for(database_url: str, configured: str = "") -> Path:
    """Where the key file lives: ``configured``, else one per database under the user's
    configuration directory (``$XDG_CONFIG_HOME/crmsync/keys``)."""
    if configured:
        return Path(configured).expanduser().resolve()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    name = hashlib.sha256(_database_identity(database_url).encode()).hexdigest()[:16]
    return base / "crmsync" / "keys" / f"{name}.key"


def _database_identity(database_url: str) -> str:
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        return "sqlite:///" + str(Path(database_url.removeprefix("sqlite:///")).resolve())
    return database_url


def legacy_key_file(database_url: str) -> Path | None:
    """Where earlier versions kept the key: beside a SQLite file."""
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        return Path(database_url.removeprefix("sqlite:///")).resolve().with_name("crmsync.key")
    return None


def load_keys(secret_key: str, old_keys: Iterable[str], database_url: str,
              key_file: str = "", may_create: bool = True) -> list[Key]:
    """Return the current key first, then the old ones that still decrypt.

    :param may_create: whether a missing key file may be created (only while no
        credential is stored: a new key would open none of them).
    :raises ConfigError: the key file is readable by others, or missing when it may
        not be created.
    """
    olds = [Key.from_secret(k.encode()) for k in old_keys if k]
    if secret_key:
        return [Key.from_secret(secret_key.encode()), *olds]
    path = key_file_for(database_url, key_file)
    legacy = legacy_key_file(database_url)
    if not path.exists() and not key_file and legacy is not None and legacy.exists():
        log.warning("the key file %s sits beside the database; move it to %s", legacy, path)
        path = legacy
    if not path.exists():
        if not may_create:
            raise ConfigError(
                f"stored credentials are encrypted but the key is missing: restore the key "
                f"file {path} (or set CRMSYNC_KEY_FILE to where it is), or set "
                "CRMSYNC_SECRET_KEY to the secret they were sealed with")
        _create_key_file(path)
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} is readable by other users; run: chmod 600 {path}")
    raw = base64.urlsafe_b64decode(path.read_bytes().strip())
    return [Key.from_secret(raw, legacy=raw), *olds]


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)))
    log.warning("created a new encryption key file %s (back it up apart from the database)",
                path)


class SecretBox:
    """Encrypt and decrypt credentials bound to the row that holds them."""

    def __init__(self, keys: list[Key]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs a key")
        self.keys = keys

    @property
    def current_key_id(self) -> bytes:
        return self.keys[0].key_id

    def seal(self, plaintext: str, bound_to: str) -> bytes:
        key = self.keys[0]
        nonce = os.urandom(12)
        body = AESGCM(key.aes).encrypt(nonce, plaintext.encode(), bound_to.encode())
        return VERSION + key.key_id + nonce + body

    def open(self, sealed: bytes, bound_to: str) -> str:
        if sealed.startswith(VERSION):
            key_id, nonce, body = sealed[2:6], sealed[6:18], sealed[18:]
            candidates = [k.aes for k in self.keys if k.key_id == key_id]
        elif sealed.startswith(LEGACY):
            nonce, body = sealed[2:14], sealed[14:]
            candidates = [k.legacy for k in self.keys]
        else:
            raise SecretUnreadableError("credential unreadable: unknown format")
        for aes in candidates:
            try:
                return AESGCM(aes).decrypt(nonce, body, bound_to.encode()).decode()
            except InvalidTag:
                continue
        raise SecretUnreadableError("credential unreadable: wrong key or tampered")

    def derive(self, purpose: bytes) -> bytes:
        """A key for another use (signing console sessions), derived from the current
        key with its own label: one secret to keep, none reused for two jobs."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                    info=b"crmsync " + purpose).derive(self.keys[0].aes)

    @staticmethod
    def key_id_of(sealed: bytes) -> str:
        """The id of the key that sealed ``sealed`` (hex), or ``v1`` for older values."""
        return sealed[2:6].hex() if sealed.startswith(VERSION) else "v1"
