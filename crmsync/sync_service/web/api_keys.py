"""API keys: per-user bearer tokens for scripts and the preview page.

Only the SHA-256 of a key is stored; the key itself is shown once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crmsync.crm.audit import record
from crmsync.crm.models import ApiKey, User
from crmsync.errors import UserError

PREFIX = "crm_"
log = logging.getLogger(__name__)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def require_user(session: Session, email: str) -> User:
    """Return the CRM user ``email`` (any case), or say plainly that there is none."""
    user = session.scalars(select(User).where(User.email == email.lower())).one_or_none()
    if user is None:
        raise UserError(f"no CRM user {email}")
    return user


#: how long a key works unless asked otherwise (``crmsync apikey create --days``)
DEFAULT_KEY_DAYS = 365
#: the longest lifetime a key may be given (``0``/``None`` days: a key that never expires)
MAX_KEY_DAYS = 3650
#: a key minted by the demo's preview page: it works only while demo mode is on
PREVIEW = "preview"


def create_api_key(session: Session, email: str, days: int | None = DEFAULT_KEY_DAYS,
                   label: str = "", purpose: str = "api") -> str:
    """Create and return a new key for the user ``email``.

    :param days: the key stops working after this many days; ``None``: never.
    """
    user = require_user(session, email)
    key = PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.add(ApiKey(user_id=user.id, key_hash=hash_key(key), created_at=now,
                       purpose=purpose, label=label[:100],
                       expires_at=now + timedelta(days=days) if days else None))
    return key


def list_api_keys(session: Session, email: str | None = None) -> list[dict[str, Any]]:
    """Every key (never its secret): id, user, label, purpose, created, expires, revoked."""
    query = select(ApiKey, User.email).join(User, User.id == ApiKey.user_id).order_by(ApiKey.id)
    if email:
        query = query.where(User.id == require_user(session, email).id)
    return [{"id": key.id, "user": address, "label": key.label, "purpose": key.purpose,
             "created_at": key.created_at, "expires_at": key.expires_at,
             "revoked_at": key.revoked_at} for key, address in session.execute(query)]


def revoke_api_key(session: Session, key_id: int) -> None:
    """Revoke the key ``key_id`` at once (the next request with it gets 401)."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise UserError(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)


def user_for_key(session: Session, key: str, allow_preview: bool = False) -> User | None:
    """Return the user a presented key belongs to while the key is live, or ``None``.

    :param allow_preview: whether keys the demo's preview page minted count (demo mode).
    """
    if not key.startswith(PREFIX):
        return None
    # One statement per API request, not two: the user comes with the key.
    query = select(User).join(ApiKey, ApiKey.user_id == User.id).where(
        ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None),
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > datetime.now(UTC)))
    if not allow_preview:
        query = query.where(ApiKey.purpose != PREVIEW)
    return session.scalars(query).one_or_none()


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith(PREFIX)


def user_for_bearer(session: Session, token: str, validator: Any = None,
                    allow_preview: bool = False, source: str = "") -> User | None:
    """Return the user of an API key or of a valid Outlook access token, else ``None``.

    :param validator: a :class:`~crmsync.sync_service.web.outlook_tokens.TokenValidator`,
        or ``None`` when Outlook tokens are not configured (then only API keys work).
    :param allow_preview: demo mode: keys of the preview page work.
    :param source: the request's address, for the audit log of a first sign-in.
    """
    if not looks_like_jwt(token):
        return user_for_key(session, token, allow_preview)
    if validator is None:
        return None
    from crmsync.sync_service.web.outlook_tokens import InvalidToken

    try:
        identity = validator.identity(token)
    except InvalidToken as exc:
        log.info("rejected an Outlook token: %s", exc)
        return None
    return user_for_identity(session, identity, source)


def user_for_identity(session: Session, identity: Any, source: str = "") -> User | None:
    """The CRM user of an Entra identity: by its bound (tenant, object id), else the user
    with its address and no identity yet, who is bound to it now (once, for good)."""
    bound = session.scalars(select(User).where(
        User.entra_tenant_id == identity.tenant_id,
        User.entra_object_id == identity.object_id)).one_or_none()
    if bound is not None:
        return bound
    user = session.scalars(select(User).where(User.email == identity.address)).one_or_none()
    if user is None or user.entra_object_id is not None:
        return None  # unknown, or the address now names another identity's account
    user.entra_tenant_id, user.entra_object_id = identity.tenant_id, identity.object_id
    record(session, user.email, "signin.bind-identity", f"user:{user.id}", source,
           tenant=identity.tenant_id, object_id=identity.object_id)
    log.info("bound CRM user %s to an Entra identity", user.id)
    return user


_preview_keys: dict[tuple[str, int], str] = {}
_preview_lock = threading.Lock()


def _preview_user(session: Session, message_id: str | None) -> User | None:
    """The owner of a mailbox holding the message, else the first rep, else the first user."""
    from crmsync.crm.models import ActivitySource, Mailbox
    from crmsync.crm.tracking import find_activity

    activity = find_activity(session, message_id, seen_by=None) if message_id else None
    if activity is not None:
        owner = session.scalars(
            select(User).join(Mailbox, Mailbox.owner_id == User.id)
            .join(ActivitySource, ActivitySource.mailbox_id == Mailbox.id)
            .where(ActivitySource.activity_id == activity.id).order_by(User.id)
        ).first()
        if owner is not None:
            return owner
    return session.scalars(
        select(User).order_by((User.role != "rep"), User.id)
    ).first()


def preview_sign_in(services: Any, message_id: str | None) -> tuple[str, str, str] | None:
    """Sign the preview page in (``CRMSYNC_DEMO=1`` only): (API key, email, name), or ``None``.

    One key per user and process, created on first use, so reloading the page does
    not pile up keys.
    """
    from crmsync.crm.db import session_scope

    with session_scope(services.sessions) as session:
        user = _preview_user(session, message_id)
        if user is None:
            return None
        cache_key = (services.config["DATABASE_URL"], user.id)
        with _preview_lock:
            if cache_key not in _preview_keys:
                _preview_keys[cache_key] = create_api_key(
                    session, user.email, days=1, label="preview page", purpose=PREVIEW)
            return _preview_keys[cache_key], user.email, user.name
