"""Constraints a user would notice: duplicate events, turn order, cascading deletes."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.db import migrate
from core.db.models import Conversation, Pick, PlatformEvent, Track, Turn
from core.db.session import session_scope


@pytest.fixture
def url(db_url):
    migrate.upgrade(db_url)
    return db_url


def test_duplicate_platform_event_is_rejected(url):
    with session_scope(url) as s:
        s.add(PlatformEvent(platform="slack", event_id="Ev123"))
    with pytest.raises(IntegrityError):
        with session_scope(url) as s:
            s.add(PlatformEvent(platform="slack", event_id="Ev123"))
    # The same id on another platform is a different event.
    with session_scope(url) as s:
        s.add(PlatformEvent(platform="discord", event_id="Ev123"))
    with session_scope(url) as s:
        assert s.scalar(select(PlatformEvent.id).where(PlatformEvent.event_id == "Ev123").limit(1))
        assert len(s.scalars(select(PlatformEvent)).all()) == 2


def test_turn_index_unique_per_conversation(url):
    with session_scope(url) as s:
        conv = Conversation(platform="cli", user_id="u1")
        conv.turns.append(Turn(index=0))
        s.add(conv)
    with pytest.raises(IntegrityError):
        with session_scope(url) as s:
            conv = s.scalars(select(Conversation)).one()
            s.add(Turn(conversation_id=conv.id, index=0))


def test_deleting_a_conversation_deletes_its_turns_and_picks(url):
    with session_scope(url) as s:
        track = Track(content_hash="h" * 64, path="/x.ogg", title="Song", duration_s=60.0)
        conv = Conversation(platform="discord", user_id="42")
        turn = Turn(index=0)
        turn.picks.append(Pick(rank=1, track=track, score=0.9))
        conv.turns.append(turn)
        s.add(conv)
    with session_scope(url) as s:
        s.delete(s.scalars(select(Conversation)).one())
    with session_scope(url) as s:
        assert s.scalars(select(Turn)).all() == []
        assert s.scalars(select(Pick)).all() == []
        assert len(s.scalars(select(Track)).all()) == 1  # the catalog is untouched
