"""Moderator accounts, sign-in and sessions.

Passwords are stored as argon2id hashes (argon2-cffi's defaults, RFC 9106). Sign-in is
rate limited per account name and per client address from the ``login_attempts`` table,
so the limit holds across server processes and restarts. A session is a random 256-bit
token in the browser's cookie; the database keeps only its SHA-256 together with the
session's CSRF token, so signing out (or disabling the account) ends it at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update

from core.config import Settings
from core.db.models import LoginAttempt, Moderator, ModeratorRole, ModeratorSession, utcnow
from core.db.session import session_scope
from core.errors import UserError
from core.moderation import audit

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; this only bounds the work per request
# A client address may fail this many times more often than one account name (several
# moderators behind one office NAT).
CLIENT_FACTOR = 4
# last_seen_at is written at most this often, not on every request.
TOUCH_EVERY = timedelta(seconds=60)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,99}$")

_hasher = PasswordHasher()


class AccountError(UserError):
    user_message = "That account change is not possible."


class LoginRefused(UserError):
    user_message = "Wrong name or password."


class LoginThrottled(UserError):
    """Too many failures in the window; ``retry_after_s`` says when the next try is allowed."""

    def __init__(self, retry_after_s: int):
        minutes = max(1, -(-retry_after_s // 60))
        super().__init__(f"sign-in throttled for {retry_after_s} s", user_message=(
            f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."))
        self.retry_after_s = retry_after_s


def normalise_name(name: str) -> str:
    """Account names are case-insensitive: stored and compared in lower case."""
    return name.strip().lower()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError("password too short", user_message=(
            f"The password must have at least {MIN_PASSWORD_CHARS} characters."))
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError("password too long", user_message=(
            f"The password must have at most {MAX_PASSWORD_CHARS} characters."))
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
    return _hasher.hash(secrets.token_hex(16))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password[:MAX_PASSWORD_CHARS])
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


# --- accounts ------------------------------------------------------------------------------

def create_moderator(name: str, password: str, role: ModeratorRole | str, *, actor: str = "cli",
                     url: str | None = None) -> Moderator:
    """Create an account; raises AccountError for a bad or taken name or a short password."""
    name, role = normalise_name(name), ModeratorRole(role)
    if not _NAME.match(name):
        raise AccountError(f"bad name {name!r}", user_message=(
            "A name is 1-100 characters: letters, digits and . _ @ - (starting with a letter or digit)."))
    hashed = hash_password(password)
    with session_scope(url) as s:
        if s.scalar(select(Moderator.id).where(Moderator.name == name)) is not None:
            raise AccountError(f"{name} exists", user_message=f"There is already an account named {name}.")
        mod = Moderator(name=name, password_hash=hashed, role=role, active=True)
        s.add(mod)
        s.flush()
        audit.record(s, actor, "moderator_add", f"moderator:{name}", role=role.value)
        return mod


def set_password(name: str, password: str, *, actor: str = "cli", url: str | None = None) -> None:
    """Replace an account's password and end its sessions."""
    hashed = hash_password(password)
    with session_scope(url) as s:
        mod = _account(s, name)
        mod.password_hash = hashed
        s.execute(delete(ModeratorSession).where(ModeratorSession.moderator_id == mod.id))
        audit.record(s, actor, "moderator_password", f"moderator:{mod.name}")


def set_active(name: str, active: bool, *, actor: str = "cli", url: str | None = None) -> None:
    """Enable or disable an account; disabling ends its sessions at once."""
    with session_scope(url) as s:
        mod = _account(s, name)
        mod.active = active
        if not active:
            s.execute(delete(ModeratorSession).where(ModeratorSession.moderator_id == mod.id))
        audit.record(s, actor, "moderator_enable" if active else "moderator_disable", f"moderator:{mod.name}")


def list_moderators(url: str | None = None) -> list[Moderator]:
    with session_scope(url) as s:
        return list(s.scalars(select(Moderator).order_by(Moderator.name)))


def _account(s, name: str) -> Moderator:
    mod = s.scalar(select(Moderator).where(Moderator.name == normalise_name(name)))
    if mod is None:
        raise AccountError(f"no account {name!r}", user_message=f"There is no account named {normalise_name(name)}.")
    return mod


# --- sign-in and sessions --------------------------------------------------------------------

@dataclass(frozen=True)
class Principal:
    """The moderator behind a request."""

    session_id: int
    moderator_id: int
    name: str
    role: ModeratorRole
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role is ModeratorRole.admin


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    token: str  # goes into the cookie; never stored
    expires_at: datetime


def sign_in(name: str, password: str, client: str, settings: Settings, *, url: str | None = None,
            now: datetime | None = None) -> SignedIn:
    """Check a password and open a session.

    Raises LoginThrottled when the name or the client address failed too often within the
    window (the password is then not even checked), LoginRefused for a wrong name or
    password (the same message for both). Every attempt is recorded for the limit; failures
    and sign-ins are written to the audit log.
    """
    now = now or utcnow()
    name = normalise_name(name)[:100]
    client = client[:64]
    window = timedelta(minutes=settings.web_login_window_minutes)
    limit = settings.web_login_max_failures
    refused: UserError | None = None
    signed: SignedIn | None = None
    with session_scope(url) as s:
        since = now - window
        failed = select(func.count(), func.min(LoginAttempt.at)).where(
            LoginAttempt.success.is_(False), LoginAttempt.at >= since)
        by_name = s.execute(failed.where(LoginAttempt.name == name)).one()
        by_client = s.execute(failed.where(LoginAttempt.client == client)).one()
        blocking = [oldest for count, oldest, cap in ((*by_name, limit), (*by_client, limit * CLIENT_FACTOR))
                    if count >= cap]
        if blocking:
            retry = max(_aware(b) for b in blocking) + window - now
            refused = LoginThrottled(max(1, int(retry.total_seconds())))
        else:
            mod = s.scalar(select(Moderator).where(Moderator.name == name))
            usable = mod is not None and mod.active
            ok = _verify(mod.password_hash if usable else _dummy_hash(), password) and usable
            s.add(LoginAttempt(name=name, client=client, success=ok, at=now))
            if not ok:
                audit.record(s, "anonymous", "login_failed", f"moderator:{name}", client=client)
                refused = LoginRefused()
            else:
                if _hasher.check_needs_rehash(mod.password_hash):
                    mod.password_hash = _hasher.hash(password)
                mod.last_login_at = now
                token = secrets.token_urlsafe(32)
                expires = now + timedelta(hours=settings.web_session_hours)
                row = ModeratorSession(moderator_id=mod.id, token_hash=_token_hash(token),
                                       csrf_token=secrets.token_urlsafe(32), created_at=now,
                                       last_seen_at=now, expires_at=expires)
                s.add(row)
                s.flush()
                audit.record(s, mod.name, "login", f"moderator:{mod.name}", client=client)
                signed = SignedIn(Principal(row.id, mod.id, mod.name, mod.role, row.csrf_token), token, expires)
    # Raised only now: the attempt and its audit entry must be committed, not rolled back.
    if refused is not None:
        raise refused
    assert signed is not None
    return signed


def principal_for(token: str | None, settings: Settings, *, url: str | None = None,
                  now: datetime | None = None) -> Principal | None:
    """The moderator a session cookie belongs to, or None (unknown, expired, idle too long,
    or the account disabled). An ended session's row is deleted."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    idle = timedelta(minutes=settings.web_session_idle_minutes)
    with session_scope(url) as s:
        row = s.execute(select(ModeratorSession, Moderator).join(Moderator)
                        .where(ModeratorSession.token_hash == _token_hash(token))).first()
        if row is None:
            return None
        sess, mod = row
        if not mod.active or _aware(sess.expires_at) <= now or _aware(sess.last_seen_at) + idle <= now:
            s.delete(sess)
            return None
        if now - _aware(sess.last_seen_at) >= TOUCH_EVERY:
            s.execute(update(ModeratorSession).where(ModeratorSession.id == sess.id).values(last_seen_at=now))
        return Principal(sess.id, mod.id, mod.name, mod.role, sess.csrf_token)


def sign_out(principal: Principal, *, url: str | None = None) -> None:
    with session_scope(url) as s:
        s.execute(delete(ModeratorSession).where(ModeratorSession.id == principal.session_id))
        audit.record(s, principal.name, "logout", f"moderator:{principal.name}")


def prune(now: datetime, settings: Settings, s) -> dict[str, int]:
    """Delete ended sessions and sign-in attempts older than the rate-limit window (for
    the retention sweep). Returns how many of each."""
    idle = timedelta(minutes=settings.web_session_idle_minutes)
    sessions = s.execute(delete(ModeratorSession).where(
        (ModeratorSession.expires_at <= now) | (ModeratorSession.last_seen_at <= now - idle))).rowcount
    attempts = s.execute(delete(LoginAttempt).where(
        LoginAttempt.at < now - timedelta(minutes=settings.web_login_window_minutes))).rowcount
    return {"sessions": sessions, "login_attempts": attempts}
