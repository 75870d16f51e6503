"""Turn 1 follows the pace of the footage: the same clip cut fast gets faster, more energetic
picks than in slow motion (footage made here; the shipped checkpoint's scene head)."""

from __future__ import annotations

import numpy as np
import pytest

from core.retriever.pace import fast_and_slow, synthetic_footage, write_mp4

pytestmark = pytest.mark.slow


def test_the_shipped_checkpoint_has_a_scene_head():
    from core.config import get_settings
    from core.retriever.checkpoint import load_checkpoint

    loaded = load_checkpoint(get_settings())
    assert loaded.scene_head is not None and loaded.scene_head.cfg.pace_weight > 0
    assert loaded.manifest["scene_head"]["pairs"] >= 400


def test_fast_cuts_get_faster_more_energetic_picks_than_slow_motion(local_env, tmp_path):
    from sqlalchemy import select

    from core.config import get_settings
    from core.db.models import Track
    from core.db.session import session_scope
    from core.engine import Engine

    engine = Engine(get_settings())
    with session_scope() as s:
        tempo = {t.id: t.tempo_bpm for t in s.scalars(select(Track))}
    wins = 0
    for seed in (11, 12, 13):
        fast, slow = fast_and_slow(synthetic_footage(seed), fps=24)
        medians = []
        for kind, frames in (("fast", fast), ("slow", slow)):
            analysis = engine.analyse_video(write_mp4(frames, tmp_path / f"{seed}-{kind}.mp4"))
            picks = engine.recommend(analysis, k=5)
            medians.append(np.median([tempo[p.track_id] for p in picks if tempo[p.track_id]]))
        wins += medians[0] > medians[1]
    assert wins >= 2, wins


def test_scene_scores_stay_in_the_cosine_range(local_env, tmp_path):
    from core.config import get_settings
    from core.engine import Engine

    engine = Engine(get_settings())
    fast, _ = fast_and_slow(synthetic_footage(21), fps=24)
    picks = engine.recommend(engine.analyse_video(write_mp4(fast, tmp_path / "fast.mp4")), k=5)
    assert picks and all(-1.0 <= p.score <= 1.0 for p in picks)
    assert [p.score for p in picks] == sorted((p.score for p in picks), reverse=True)
