""""Longer" and "shorter" are relative to what the user heard, end to end: a catalog of
very different lengths, the shipped checkpoint, turns answered in-process."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.config import get_settings
from core.conversation import ConversationService
from core.data.synth import LENGTH_RATIO, TEMPO_MIN_BPM, TEMPO_RATIO
from core.db.models import Track
from core.db.session import session_scope
from tests.conversation.sample_media import length_catalog_tracks, write_catalog, write_clip
from tests.conversation.stack import build_installation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def length_stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("length_stack")
    return build_installation(root, write_catalog(root / "music", length_catalog_tracks()))


@pytest.fixture
def service(length_stack, monkeypatch) -> ConversationService:
    length_stack.apply(monkeypatch)
    return ConversationService(get_settings())


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "clip.mp4", seconds=2.0)


def _start(service, clip, note=None):
    return service.start(clip, platform="web", user_id="alice", event_id=f"ev-{uuid.uuid4().hex}", note=note)


def _unshown(view_picks) -> list[Track]:
    shown = {p.track_id for p in view_picks}
    with session_scope() as s:
        tracks = [t for t in s.scalars(select(Track)) if t.id not in shown]
        s.expunge_all()
        return tracks


def _unshown_lengths(view_picks) -> list[float]:
    return [t.duration_s for t in _unshown(view_picks)]


def test_longer_after_long_picks_moves_longer_than_the_heard_pick(service, clip):
    # Most of this catalog is long, so turn 1 picks long tracks. Before "longer" was a filter the
    # re-ranker moved one pick longer and filled the rest with shorter ones (or all of them, when
    # nothing longer was among its candidates).
    first = service.get_turn(_start(service, clip).turn_id)
    heard = first.picks[0].duration_s  # the previous pick of the next turn: the top one
    longer = [d for d in _unshown_lengths(first.picks) if d >= heard * LENGTH_RATIO]
    assert longer, "the catalog must hold something longer than the heard pick"
    second = service.get_turn(service.reply(first.conversation_id, "I need a longer piece").turn_id)
    assert all(p.duration_s >= heard * LENGTH_RATIO for p in second.picks), \
        (heard, [p.duration_s for p in second.picks])
    assert second.status == "done" and len(second.picks) == min(3, len(longer))
    m, s = divmod(int(heard), 60)
    assert second.filters_applied[0].startswith(f"longer than {m}:{s:02d} (at least ")
    assert any(n.startswith("Filters applied: longer than") for n in second.notes)


def test_longer_replaces_a_length_range_it_contradicts(service, clip):
    first = service.get_turn(_start(service, clip, note="between 20 and 25 seconds").turn_id)
    assert first.picks and all(20 <= p.duration_s <= 25 for p in first.picks)
    heard = first.picks[0].duration_s
    second = service.get_turn(service.reply(first.conversation_id, "longer please").turn_id)
    assert second.picks and all(p.duration_s >= heard * LENGTH_RATIO for p in second.picks)
    assert len(second.filters_applied) == 1  # the range's upper bound is gone


def test_shorter_after_longer_replaces_it_and_moves_shorter(service, clip):
    first = service.get_turn(_start(service, clip).turn_id)
    second = service.get_turn(service.reply(first.conversation_id, "longer please").turn_id)
    assert second.picks
    heard = second.picks[0].duration_s
    shorter = [t for t in _unshown(first.picks + second.picks) if t.duration_s * LENGTH_RATIO <= heard]
    third = service.get_turn(service.reply(first.conversation_id, "too long, shorter please").turn_id)
    assert third.status == "done" and len(third.picks) == min(3, len(shorter)), third.filters
    assert all(p.duration_s * LENGTH_RATIO <= heard for p in third.picks), \
        (heard, [p.duration_s for p in third.picks])
    # "Shorter" replaced "longer": one length bound, relative to the pick just heard.
    assert len(third.filters_applied) == 1 and third.filters_applied[0].startswith("shorter than")


def test_faster_moves_every_pick_faster_than_the_heard_pick(service, clip):
    # The user likes the fastest pick and asks for faster: the liked pick is the heard one.
    # Before "faster" was a filter the re-ranker moved the top pick faster but filled the
    # rest with slower tracks (all of them when nothing faster was among its candidates).
    first = service.get_turn(_start(service, clip).turn_id)
    liked = max(first.picks, key=lambda p: p.tempo_bpm or 0)
    assert service.react(liked.pick_id, "like", user_id="alice") is None
    heard = liked.tempo_bpm
    bound = max(heard * TEMPO_RATIO, heard + TEMPO_MIN_BPM)
    faster = [t for t in _unshown(first.picks) if t.tempo_bpm and t.tempo_bpm >= bound]
    second = service.get_turn(service.reply(first.conversation_id, "faster please").turn_id)
    assert all(p.tempo_bpm >= bound for p in second.picks), (heard, [p.tempo_bpm for p in second.picks])
    assert second.status == "done" and len(second.picks) == min(3, len(faster))
    assert second.filters_applied == [f"faster than {heard:.0f} bpm (above {bound:.0f} bpm)"]
