"""Turns answered in-process (no broker) by the real engine: lifecycle, caching,
exclusions, reactions, failures."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import select

from core.config import get_settings
from core.conversation import ConversationService
from core.conversation.deadline import TurnTimeout
from core.conversation.service import GENERIC_FAILURE
from core.db.models import Turn, TurnStatus, Video
from core.db.session import session_scope
from tests.conversation.sample_media import write_clip

pytestmark = pytest.mark.slow


@pytest.fixture
def service(local_env) -> ConversationService:
    return ConversationService(get_settings())


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "clip.mp4", seconds=2.0)


def _start(service, clip):
    # The session's database is shared: every test's events are its own.
    return service.start(clip, platform="web", user_id="alice", event_id=f"ev-{uuid.uuid4().hex}")


def test_turn_lifecycle_and_cached_video(service, tmp_path):
    clip = write_clip(tmp_path / "fresh.mp4", seconds=2.3, width=80)  # not analysed by another test
    seen = []

    class Watching:
        def submit(self, turn_id, job_id):
            with session_scope() as s:
                seen.append(s.get(Turn, turn_id).status)
            service.run_turn(turn_id, job_id=job_id, progress=seen.append)

    service.dispatcher = Watching()
    h = _start(service, clip)
    view = service.get_turn(h.turn_id)
    assert seen[0] is TurnStatus.queued and "analysing the video" in seen and "writing explanations" in seen
    assert view.status == "done" and view.error is None and len(view.picks) == 3
    assert all(p.explanation and p.title and p.licence for p in view.picks)
    assert view.timings["to_picks"] <= view.timings["to_explanations"]
    with session_scope() as s:
        video = s.scalars(select(Video).where(Video.filename == "fresh.mp4")).one()
        assert video.features_path and video.duration_s == pytest.approx(2.3, abs=0.2)
        assert video.facts["statements"]  # measured with the analysis, kept with the video
        video.facts = None  # as a row made after its analysis was cached (e.g. the video sent again)

    service.start(clip, platform="web", user_id="bob", event_id=f"ev-{uuid.uuid4().hex}")
    with session_scope() as s:  # a first turn that reads the cached analysis stores the facts too
        assert s.scalars(select(Video).where(Video.filename == "fresh.mp4")).one().facts["statements"]

    seen.clear()
    h2 = service.reply(h.conversation_id, "more bells")
    v2 = service.get_turn(h2.turn_id)
    assert "analysing the video" not in seen and "load_features" in v2.timings
    assert not {p.track_id for p in v2.picks} & {p.track_id for p in view.picks}


def test_filtered_catalog_runs_out_then_repeat_brings_tracks_back(service, clip):
    # Four of the sample tracks last under 10 s (8-9.5 s); the note sets the filter from turn 1.
    h = service.start(clip, platform="web", user_id="alice", note="short ones, under 10 seconds")
    first = service.get_turn(h.turn_id)
    assert first.filters_applied == ["under 0:10"] and len(first.picks) == 3
    assert all(p.duration_s <= 10 for p in first.picks)
    # (a wish that is no filter: "slower" would also bound the tempo by the heard pick's)
    second = service.get_turn(service.reply(h.conversation_id, "darker").turn_id)
    assert len(second.picks) == 1 and second.picks[0].duration_s <= 10  # the only short one left
    assert second.picks[0].track_id not in {p.track_id for p in first.picks}
    third = service.get_turn(service.reply(h.conversation_id, "calmer").turn_id)
    assert third.status == "done" and third.picks == []
    assert any("No track in the catalog matches what you asked for (under 0:10)" in n for n in third.notes)
    # Asked to repeat, shown tracks come back, except one the user disliked.
    disliked = first.picks[0]
    assert service.react(disliked.pick_id, "dislike", user_id="alice") is None
    again = service.get_turn(service.reply(h.conversation_id, "show the first ones again").turn_id)
    assert "Tracks I showed before may come back, as you asked." in again.notes
    assert len(again.picks) == 3 and disliked.track_id not in {p.track_id for p in again.picks}


def test_more_like_this_makes_a_turn_once(service, clip):
    h = _start(service, clip)
    first = service.get_turn(h.turn_id)
    assert service.react(first.picks[0].pick_id, "like", user_id="alice") is None
    button = f"btn-{uuid.uuid4().hex}"
    more = service.react(first.picks[1].pick_id, "more_like_this", user_id="alice", event_id=button)
    assert more is not None and more.index == 1
    again = service.react(first.picks[1].pick_id, "more_like_this", user_id="alice", event_id=button)
    assert again.turn_id == more.turn_id and not again.created  # the same button press delivered twice
    view = service.get_turn(more.turn_id)
    assert view.status == "done" and len(view.picks) == 3
    assert not {p.track_id for p in view.picks} & {p.track_id for p in first.picks}


def test_time_limit_fails_the_turn_with_a_message(service, clip, monkeypatch):
    service.warm_up()  # loading the models is outside the limit
    monkeypatch.setattr(service.settings, "job_timeout_s", 1e-6)
    view = service.get_turn(_start(service, clip).turn_id)
    assert view.status == "failed" and view.error == TurnTimeout.user_message


def test_unexpected_errors_fail_with_a_generic_message_and_a_logged_traceback(service, clip, monkeypatch, caplog):
    service.warm_up()

    def broken(*args, **kwargs):
        raise RuntimeError("index on fire")

    monkeypatch.setattr(service.engine, "recommend", broken)  # fault injection into the real engine
    with caplog.at_level(logging.ERROR):
        view = service.get_turn(_start(service, clip).turn_id)
    assert view.status == "failed" and view.error == GENERIC_FAILURE
    assert "index on fire" in caplog.text and "Traceback" in caplog.text


def test_a_broken_explainer_keeps_the_picks(service, clip, monkeypatch, caplog):
    service.warm_up()
    monkeypatch.setattr(service.engine, "explain", lambda *a, **k: 1 / 0)
    with caplog.at_level(logging.ERROR):
        view = service.get_turn(_start(service, clip).turn_id)
    assert view.status == "done" and len(view.picks) == 3 and view.timings.get("explain_failed")
    assert all(p.explanation is None for p in view.picks) and "ZeroDivisionError" in caplog.text
