"""The scene head and leave-one-game-out selection, on data whose answer the test knows."""

from __future__ import annotations

import numpy as np
import pytest

from core.retriever.logo import GRID, Catalog, GamePairs, choose, evaluate, fit, rank
from core.retriever.scene_head import SceneHead, SceneHeadConfig, video_pace
from core.video_facts import FACT_DIM, VideoFacts


def _world(seed: int, *, linked: bool, n_tracks: int = 120, games: int = 4, per_game: int = 30):
    """Catalog music in a 6-d latent space; videos show their track's latent through a fixed
    random map (``linked``) or show unrelated noise."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n_tracks, 6))
    music = latent @ rng.normal(size=(6, 40)) + 0.1 * rng.normal(size=(n_tracks, 40))
    to_video = rng.normal(size=(6, 64))
    drive = rng.normal(size=n_tracks).astype(np.float32)
    catalog = Catalog(music.astype(np.float32), drive, np.arange(n_tracks), [str(i) for i in range(n_tracks)],
                      ["x"] * n_tracks, drive.astype(np.float64), drive.astype(np.float64))
    out = {}
    for g in range(games):
        targets = rng.choice(n_tracks, per_game)
        frames = latent[targets] @ to_video if linked else rng.normal(size=(per_game, 64))
        frames = frames + 0.3 * rng.normal(size=frames.shape)
        out[f"g{g}"] = GamePairs(f"g{g}", [str(i) for i in range(per_game)], frames.astype(np.float32),
                                 rng.normal(size=(per_game, FACT_DIM)).astype(np.float32),
                                 np.zeros(per_game, np.float32), targets, set(targets.tolist()))
    return out, catalog


def test_a_real_link_is_found_on_games_it_never_saw():
    games, catalog = _world(0, linked=True)
    result = evaluate(None, games, catalog)
    random_r10 = 10 / len(catalog.ids)
    assert result["macro"]["scene_head"]["R@10"] > 4 * random_r10
    for g in result["games"].values():
        assert g["scene_head"]["R@10"] > 2 * random_r10


def test_no_link_stays_near_random():
    games, catalog = _world(1, linked=False)
    result = evaluate(None, games, catalog)
    assert result["macro"]["scene_head"]["R@10"] < 3 * 10 / len(catalog.ids)


def test_selection_never_sees_the_held_out_game(monkeypatch):
    games, catalog = _world(2, linked=True)
    seen = []
    import core.retriever.logo as logo

    real_rank = logo.rank

    def spy(head, game, cat):
        seen.append(game.game)
        return real_rank(head, game, cat)

    monkeypatch.setattr(logo, "rank", spy)
    train = [games[g] for g in ("g1", "g2", "g3")]
    choose(GRID[:3], train, catalog)
    assert "g0" not in seen and set(seen) == {"g1", "g2", "g3"}


def test_pace_term_moves_fast_footage_to_driving_tracks(tmp_path):
    games, catalog = _world(3, linked=False)
    head = fit(SceneHeadConfig(video_dims=8, music_dims=8, pace_weight=0.5), list(games.values()), catalog)
    frames, facts = games["g0"].frames[:1], games["g0"].facts[:1]
    music = head.music_space(catalog.music)
    fast = head.scores(head.predict(frames, facts), music, np.array([1.5]), catalog.drive)[0]
    slow = head.scores(head.predict(frames, facts), music, np.array([-1.5]), catalog.drive)[0]
    assert catalog.drive[np.argsort(-fast)[:5]].mean() > catalog.drive[np.argsort(-slow)[:5]].mean()
    head.save(tmp_path)
    again = SceneHead.load(tmp_path)
    assert np.allclose(again.scores(again.predict(frames, facts), music, np.array([1.5]), catalog.drive)[0], fast)
    assert rank(again, games["g0"], catalog).shape == (30,)


@pytest.mark.parametrize(("motion", "cuts", "sign"), [(0.01, 0, -1), (0.08, 0, 0), (0.5, 0, 1), (0.08, 40, 1)])
def test_video_pace_sign(motion, cuts, sign):
    f = VideoFacts(motion=motion, cuts_per_min=cuts, brightness=0.5, contrast=0.2, colourfulness=30, warmth=0)
    assert np.sign(round(video_pace(f), 6)) == sign
    assert video_pace(None) == 0.0


def test_transformer_reference_trains_on_sequences_and_ranks_every_pair():
    from types import SimpleNamespace

    from core.retriever.logo import transformer_ranks

    games, catalog = _world(4, linked=True, n_tracks=60, games=3, per_game=20)
    m = catalog.music
    catalog.table = SimpleNamespace(pooled=m[:, :24].copy(), scalars=m[:, 24:32].copy(), meta=m[:, 32:40].copy(),
                                    segments=np.repeat(m[:, None, :24], 2, axis=1), seg_mask=np.ones((60, 2), bool))
    for g in games.values():  # three frames per clip around the clip's mean features
        g.sequences = [np.stack([f, f * 0.9, f * 1.1]) for f in g.frames]
    out = transformer_ranks([games["g0"], games["g1"]], [games["g2"]], catalog, epochs=(1, 4))
    assert set(out) == {1, 4}
    for ranks in out.values():
        assert ranks[0].shape == (20,) and ranks[0].min() >= 1 and ranks[0].max() <= 60
