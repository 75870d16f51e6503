"""The refinement-turn re-ranker: what it re-scores, that it can learn a wish relative to the
previous pick (which a single dot product cannot), and that it survives a save and load."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from torch.nn import functional as F

from core.retriever.facts import BASIS_DIM
from core.retriever.rerank import Reranker, RerankerConfig, TrackInputs, load_reranker, rerank_matrix, save_reranker

TEXT_DIM, TAGS = 16, 3


def _table(n: int, seed: int = 0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    scalars = np.zeros((n, TAGS + 4), np.float32)
    scalars[:, :TAGS] = rng.random((n, TAGS))
    scalars[:, TAGS] = rng.uniform(60, 180, n) / 200  # tempo/200
    scalars[:, TAGS + 1] = 1.0
    scalars[:, TAGS + 2] = rng.random(n)
    scalars[:, TAGS + 3] = 1.0
    facts = np.zeros((n, BASIS_DIM), np.float32)  # core.retriever.facts.fact_basis columns
    facts[:, 0], facts[:, 1] = scalars[:, TAGS + 2], scalars[:, TAGS] * 200  # vocals, tempo
    facts[:, 2:4] = rng.normal(size=(n, 2))  # energy, valence
    facts[:, 4] = rng.uniform(30, 300, n)  # duration
    facts[:, 5:7] = rng.integers(1, 4, (n, 2))  # album, artist codes
    facts[:, 7:] = rng.random((n, BASIS_DIM - 7))
    return SimpleNamespace(scalars=scalars, meta=rng.normal(size=(n, TEXT_DIM)).astype(np.float32),
                           pooled=rng.random((n, 8)).astype(np.float32), facts=facts)


def _reranker(**kw) -> Reranker:
    torch.manual_seed(0)
    return Reranker(RerankerConfig(text_dim=TEXT_DIM, scalar_dim=TAGS + 4, meta_dim=TEXT_DIM, music_dim=8, **kw)).eval()


def test_rerank_matrix_rescored_candidates_first_previous_pick_never():
    table, rng = _table(30), np.random.default_rng(1)
    model = _reranker(candidates=6)
    scores = rng.normal(size=(4, 30)).astype(np.float32)
    prev = np.array([0, 5, 9, 29])
    text = torch.from_numpy(rng.normal(size=(4, TEXT_DIM)).astype(np.float32))
    out = rerank_matrix(model, scores, text, prev, table)
    for i in range(4):
        masked = scores[i].copy()
        masked[prev[i]] = -np.inf
        cands = set(np.argsort(-masked)[:6].tolist())
        assert prev[i] not in cands and out[i, prev[i]] == -np.inf
        ranked = np.argsort(-out[i])
        assert set(ranked[:6].tolist()) == cands  # the re-scored ones lead
        rest = [j for j in ranked[6:] if j != prev[i]]
        assert rest == sorted(rest, key=lambda j: -scores[i, j])  # the others keep the retriever's order


def test_learns_faster_or_slower_than_the_previous_pick():
    """Target: the track whose tempo is nearest to 1.3x (or 1/1.3x) the previous pick's.
    A dot product with a fixed key per track cannot rank this; the re-ranker learns it."""
    n, table = 80, _table(80)
    tempo = table.scalars[:, TAGS] * 200
    rng = np.random.default_rng(2)
    words = {w: rng.normal(size=TEXT_DIM).astype(np.float32) for w in ("faster", "slower")}

    def sample(m):
        prev = rng.integers(0, n, m)
        wish = rng.integers(0, 2, m)
        want = np.where(wish == 1, tempo[prev] * 1.3, tempo[prev] / 1.3)
        dist = np.abs(tempo[None] - want[:, None])
        dist[np.arange(m), prev] = np.inf
        text = np.stack([words["faster" if w else "slower"] + 0.1 * rng.normal(size=TEXT_DIM) for w in wish])
        return torch.from_numpy(text.astype(np.float32)), prev, torch.from_numpy(dist.argmin(1))

    model = _reranker(hidden=64, dropout=0.0)
    model.train()
    cand = TrackInputs.from_table(table, np.arange(n))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(400):
        text, prev, target = sample(64)
        loss = F.cross_entropy(model(text, TrackInputs.from_table(table, prev), cand), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    text, prev, target = sample(300)
    with torch.no_grad():
        scores = model(text, TrackInputs.from_table(table, prev), cand)
    top5 = scores.topk(5, dim=1).indices
    hit = (top5 == target[:, None]).any(1).float().mean().item()
    assert hit > 0.6, hit  # chance: 5/80


def test_save_and_load_give_the_same_scores(tmp_path):
    table = _table(12)
    model = _reranker(retriever_weight=0.2)
    model.audio_mean.fill_(0.5)
    model.mood_scale.fill_(2.0)
    save_reranker(model, tmp_path, {"note": 1})
    loaded = load_reranker(tmp_path)
    assert loaded.cfg == model.cfg
    text = torch.randn(2, TEXT_DIM)
    args = (text, TrackInputs.from_table(table, np.array([1, 2])), TrackInputs.from_table(table, np.arange(12)),
            torch.randn(2, 12))
    with torch.no_grad():
        assert torch.allclose(model(*args), loaded(*args), atol=2e-2)  # stored in float16
    assert load_reranker(tmp_path / "elsewhere") is None
