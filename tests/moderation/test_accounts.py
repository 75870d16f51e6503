"""Accounts: argon2 hashes, sign-in refused and rate limited, sessions that end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.config import Settings
from core.db.models import AuditLog, LoginAttempt, Moderator, ModeratorSession, utcnow
from core.db.session import session_scope
from core.moderation import accounts
from core.moderation.accounts import AccountError, LoginRefused, LoginThrottled

PASSWORD = "correct horse battery"


@pytest.fixture
def alice(sqlite_db):
    accounts.create_moderator("Alice", PASSWORD, "moderator", url=sqlite_db)
    return sqlite_db


@pytest.fixture
def alice_everywhere(db):
    accounts.create_moderator("Alice", PASSWORD, "moderator", url=db)
    return db


def test_password_is_stored_only_as_an_argon2id_hash_at_full_cost(real_hash_cost, alice):
    with session_scope(alice) as s:
        mod = s.scalars(select(Moderator)).one()
    assert mod.name == "alice"  # names are case-insensitive
    assert mod.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PASSWORD not in mod.password_hash
    assert accounts.sign_in("alice", PASSWORD, "c", Settings(), url=alice)


def test_bad_accounts_are_refused(alice):
    with pytest.raises(AccountError, match="exists"):
        accounts.create_moderator("ALICE", PASSWORD, "admin", url=alice)
    with pytest.raises(AccountError, match="too short"):
        accounts.create_moderator("bob", "short", "admin", url=alice)
    with pytest.raises(AccountError, match="bad name"):
        accounts.create_moderator("<script>", PASSWORD, "admin", url=alice)
    with pytest.raises(ValueError):
        accounts.create_moderator("bob", PASSWORD, "superuser", url=alice)


def test_sign_in_opens_a_session_and_wrong_passwords_are_refused(alice):
    settings = Settings()
    signed = accounts.sign_in("ALICE", PASSWORD, "10.0.0.1", settings, url=alice)
    assert signed.principal.name == "alice" and not signed.principal.is_admin
    assert accounts.principal_for(signed.token, settings, url=alice) == signed.principal
    with session_scope(alice) as s:
        stored = s.scalars(select(ModeratorSession)).one()
    assert stored.token_hash != signed.token and len(stored.token_hash) == 64  # only the hash is kept
    for name, password in (("alice", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(LoginRefused):
            accounts.sign_in(name, password, "10.0.0.1", settings, url=alice)
    with session_scope(alice) as s:
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["moderator_add", "login", "login_failed", "login_failed"]


def test_too_many_failures_lock_the_name_until_the_window_passes(alice_everywhere):
    alice = alice_everywhere
    settings = Settings(web_login_max_failures=3, web_login_window_minutes=10)
    now = utcnow()
    for i in range(3):
        with pytest.raises(LoginRefused):
            accounts.sign_in("alice", f"guess number {i}", "10.0.0.2", settings, url=alice, now=now)
    # Even the right password is not checked while throttled, from any address.
    with pytest.raises(LoginThrottled) as caught:
        accounts.sign_in("alice", PASSWORD, "10.9.9.9", settings, url=alice, now=now + timedelta(minutes=1))
    assert 500 <= caught.value.retry_after_s <= 600 and "Try again in" in caught.value.user_message
    later = now + timedelta(minutes=10, seconds=1)
    assert accounts.sign_in("alice", PASSWORD, "10.0.0.2", settings, url=alice, now=later).principal.name == "alice"


def test_one_address_guessing_many_names_is_throttled(alice):
    settings = Settings(web_login_max_failures=2)  # x4 per address
    now = utcnow()
    for i in range(8):
        with pytest.raises(LoginRefused):
            accounts.sign_in(f"user{i}", "whatever at all", "203.0.113.7", settings, url=alice, now=now)
    with pytest.raises(LoginThrottled):
        accounts.sign_in("alice", PASSWORD, "203.0.113.7", settings, url=alice, now=now)
    assert accounts.sign_in("alice", PASSWORD, "198.51.100.1", settings, url=alice, now=now)


def test_sessions_end_when_expired_idle_signed_out_or_disabled(alice):
    settings = Settings(web_session_hours=2, web_session_idle_minutes=30)
    t0 = utcnow()
    signed = accounts.sign_in("alice", PASSWORD, "c", settings, url=alice, now=t0)
    token = signed.token
    # Activity keeps it alive past the idle limit, but not past its lifetime.
    for minutes in (20, 40, 60, 80, 100):
        assert accounts.principal_for(token, settings, url=alice, now=t0 + timedelta(minutes=minutes))
    assert accounts.principal_for(token, settings, url=alice, now=t0 + timedelta(minutes=121)) is None

    idle = accounts.sign_in("alice", PASSWORD, "c", settings, url=alice, now=t0).token
    assert accounts.principal_for(idle, settings, url=alice, now=t0 + timedelta(minutes=31)) is None

    live = accounts.sign_in("alice", PASSWORD, "c", settings, url=alice)
    accounts.sign_out(live.principal, url=alice)
    assert accounts.principal_for(live.token, settings, url=alice) is None

    live = accounts.sign_in("alice", PASSWORD, "c", settings, url=alice)
    accounts.set_active("alice", False, url=alice)
    assert accounts.principal_for(live.token, settings, url=alice) is None
    with pytest.raises(LoginRefused):
        accounts.sign_in("alice", PASSWORD, "c", settings, url=alice)
    assert accounts.principal_for("not-a-token", settings, url=alice) is None


def test_prune_drops_old_attempts_and_ended_sessions(alice):
    settings = Settings()
    old = utcnow() - timedelta(days=2)
    accounts.sign_in("alice", PASSWORD, "c", settings, url=alice, now=old)
    fresh = accounts.sign_in("alice", PASSWORD, "c", settings, url=alice)
    with session_scope(alice) as s:
        assert accounts.prune(utcnow(), settings, s) == {"sessions": 1, "login_attempts": 1}
    with session_scope(alice) as s:
        assert len(s.scalars(select(LoginAttempt)).all()) == 1
    assert accounts.principal_for(fresh.token, settings, url=alice)
