"""Console sign-in with a password: argon2id hashes and a lockout that tells nobody who exists.

A wrong password, an unknown address and a locked account all fail the same way and take
about the same time (an unknown address is checked against a dummy hash), so the sign-in
form cannot be used to find out which addresses have accounts. ``LOCK_AFTER`` wrong
passwords in a row lock the account for ``LOCK_MINUTES``; a right password while locked
still fails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmsync.crm.models import Team, User
from crmsync.errors import UserError

ROLES = frozenset({"admin", "manager", "rep", "agent"})
LOCK_AFTER = 5
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 12
#: sign-in reads no more of a typed password than this, so no longer one is accepted
MAX_PASSWORD_LENGTH = 1024
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("an address with no account")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


class LastAdminError(UserError):
    """Taking the role admin from the last admin would leave nobody to run the console."""


def save_user(session: Session, email: str, name: str = "", role: str | None = None,
              team: str | None = None, password: str | None = None) -> User:
    """Create or update the user ``email`` (the CLI's ``user add`` and the console).

    A role, name or team not given keeps the user's (a new user is a rep).

    :raises LastAdminError: ``role`` would demote the organization's last admin.
    """
    role = role.lower() if role else None
    if role is not None and role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(sorted(ROLES))}")
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise UserError(f"{email!r} is not an email address")
    user = session.scalars(select(User).where(User.email == email)).one_or_none()
    if user is None:
        user = User(email=email)
        session.add(user)
    if user.role == "admin" and role not in (None, "admin") and _admins(session) == 1:
        raise LastAdminError(f"{email} is the last admin: make another user an admin "
                             "first")
    user.name = name or user.name or email
    user.role = role or user.role or "rep"
    if team:
        user.team = session.scalars(select(Team).filter_by(name=team)).one_or_none() \
            or Team(name=team)
    if password is not None:
        user.password_hash = hash_password(password)
        unlock(user)
        end_sessions(user)
    session.flush()
    return user


def end_sessions(user: User) -> None:
    """Void every console session ``user`` has (sign-out everywhere, new password)."""
    user.sessions_valid_after = datetime.now(UTC)


def session_is_current(user: User, begun: float) -> bool:
    """Whether a session begun at ``begun`` (epoch seconds) is still valid for ``user``."""
    after = user.sessions_valid_after
    return after is None or begun > after.timestamp()


def _admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.role == "admin"))


def unlock(user: User) -> None:
    """Let ``user`` sign in again at once: no lockout, no wrong passwords counted."""
    user.failed_sign_ins, user.locked_until = 0, None


def is_locked(user: User, now: datetime | None = None) -> bool:
    """Whether ``user``'s sign-in is locked now (a right password would fail too)."""
    return user.locked_until is not None and user.locked_until > (now or datetime.now(UTC))


def check_password(session: Session, email: str, password: str,
                   now: datetime | None = None) -> User | None:
    """The user when ``password`` is theirs and they are not locked out, else None.

    Records the failure (and locks after ``LOCK_AFTER``) or clears the count on success.
    """
    now = now or datetime.now(UTC)
    user = session.scalars(select(User).where(User.email == email.strip().lower()[:320])
                           ).one_or_none()
    stored = user.password_hash if user is not None and user.password_hash else None
    try:
        matches = _hasher.verify(stored or _DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        matches = False
    if user is None or stored is None:
        return None
    if is_locked(user, now):
        return None
    if not matches:
        user.failed_sign_ins = (user.failed_sign_ins or 0) + 1
        if user.failed_sign_ins >= LOCK_AFTER:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_sign_ins = 0
        return None
    unlock(user)
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return user
