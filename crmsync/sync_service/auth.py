"""API keys: per-user bearer tokens for scripts and the preview page.

Only the SHA-256 of a key is stored; the key itself is shown once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.crm.models import ApiKey, User
from crmsync.errors import UserError

PREFIX = "crm_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, email: str) -> str:
    """Create and return a new key for the user ``email``."""
    user = session.scalars(select(User).where(User.email == email.lower())).one_or_none()
    if user is None:
        raise UserError(f"no CRM user {email}")
    key = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(user_id=user.id, key_hash=hash_key(key), created_at=datetime.now(UTC)))
    return key


def user_for_key(session: Session, key: str) -> User | None:
    """Return the user a presented key belongs to, or ``None``."""
    if not key.startswith(PREFIX):
        return None
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).one_or_none()
    return row.user if row else None
