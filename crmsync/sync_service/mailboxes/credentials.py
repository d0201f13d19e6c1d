"""Encryption at rest for mailbox credentials.

AES-256-GCM with the mailbox name as associated data, so a ciphertext copied
onto another mailbox's row does not decrypt. The key comes from
``CRMSYNC_SECRET_KEY`` or from a key file (mode 0600) created beside the database.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crmsync.errors import ConfigError, CrmSyncError

log = logging.getLogger(__name__)
VERSION = b"v1"


class SecretUnreadableError(CrmSyncError):
    """A stored credential does not decrypt (wrong key, tampered, or moved row)."""


def key_file_for(database_url: str) -> Path:
    """Return where the key file lives: beside a SQLite file, else the working directory."""
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        return Path(database_url.removeprefix("sqlite:///")).resolve().with_name("crmsync.key")
    return Path("crmsync.key").resolve()


def load_or_create_key(secret_key: str, database_url: str) -> bytes:
    """Return the 32-byte key, creating a key file on first use and saying so."""
    if secret_key:
        return hashlib.sha256(secret_key.encode()).digest()
    path = key_file_for(database_url)
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} is readable by other users; run: chmod 600 {path}")
        return base64.urlsafe_b64decode(path.read_bytes().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)))
    log.warning("created a new encryption key file %s (keep it with backups)", path)
    return base64.urlsafe_b64decode(path.read_bytes().strip())


class SecretBox:
    """Encrypt and decrypt credentials bound to the row that holds them."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, bound_to: str) -> bytes:
        nonce = os.urandom(12)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), bound_to.encode())

    def open(self, sealed: bytes, bound_to: str) -> str:
        if not sealed.startswith(VERSION):
            raise SecretUnreadableError("credential unreadable: unknown format")
        nonce, body = sealed[2:14], sealed[14:]
        try:
            return self._aead.decrypt(nonce, body, bound_to.encode()).decode()
        except InvalidTag as exc:
            raise SecretUnreadableError("credential unreadable: wrong key or tampered") from exc
