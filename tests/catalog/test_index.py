"""Vector search with hard filters: exact and HNSW give the filtered top-k without losing results."""

from __future__ import annotations

import numpy as np
import pytest

from core.catalog.index import TrackMeta, VectorIndex
from core.engine import TrackFilter


def _data(n: int, d: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, d)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    meta = TrackMeta(ids=np.arange(100, 100 + n, dtype=np.int64),
                     vocal_prob=rng.random(n).astype(np.float32),
                     duration_s=rng.uniform(30, 400, n).astype(np.float32),
                     tempo_bpm=rng.uniform(60, 180, n).astype(np.float32))
    return v, meta


def _brute(v, meta, q, k, flt, exclude=()):
    ok = meta.allowed(flt, exclude)
    rows = np.flatnonzero(ok)
    order = rows[np.argsort(-(v[rows] @ q))][:k]
    return [int(meta.ids[r]) for r in order]


@pytest.mark.parametrize("n,limit", [(500, 50_000), (3000, 100)])  # exact, then HNSW
def test_filters_never_lose_results(n, limit):
    v, meta = _data(n)
    index = VectorIndex(v, meta, exact_limit=limit)
    assert index.kind == ("exact" if n <= limit else "hnsw")
    q = v[7] + 0.1
    q /= np.linalg.norm(q)
    cases = [
        TrackFilter(),
        TrackFilter(instrumental_only=True),
        TrackFilter(vocals_only=True, max_duration_s=120),
        TrackFilter(bpm_min=110, bpm_max=130),
        TrackFilter(instrumental_only=True, min_duration_s=350, bpm_max=80),  # very selective
    ]
    for flt in cases:
        got = [s.track_id for s in index.search(q, 10, flt, exclude={107, 108})]
        want = _brute(v, meta, q, 10, flt, {107, 108})
        if index.kind == "exact" or not flt.is_empty():
            assert got == want, flt
        else:
            assert len(set(got) & set(want)) >= 9
        allowed = set(meta.ids[meta.allowed(flt, {107, 108})].tolist())
        assert set(got) <= allowed
        assert len(got) == min(10, len(allowed))


def test_broad_filter_on_a_large_graph_searches_inside_it():
    """More than 20,000 allowed tracks: the filter goes into the HNSW search as a bitmap."""
    v, meta = _data(45_000, d=16)
    index = VectorIndex(v, meta, exact_limit=0, hnsw_m=8, ef_construction=20)
    q = v[3]
    flt = TrackFilter(bpm_min=60, bpm_max=150)  # about three quarters of the tracks
    assert meta.allowed(flt).sum() > 20_000
    got = [s.track_id for s in index.search(q, 10, flt, exclude={103})]
    allowed = set(meta.ids[meta.allowed(flt, {103})].tolist())
    assert len(got) == 10 and set(got) <= allowed
    assert len(set(got) & set(_brute(v, meta, q, 10, flt, {103}))) >= 8


def test_unknown_facts_fail_closed():
    """A track whose vocals are unknown is not offered as 'instrumental only'."""
    v, meta = _data(20)
    meta.vocal_prob[:] = np.nan
    index = VectorIndex(v, meta)
    assert index.search(v[0], 5, TrackFilter(instrumental_only=True)) == []


def test_save_and_load(tmp_path):
    v, meta = _data(200)
    index = VectorIndex(v, meta)
    index.save(tmp_path / "ix", {"checkpoint_id": "abc"})
    loaded, manifest = VectorIndex.load(tmp_path / "ix")
    assert manifest["checkpoint_id"] == "abc"
    assert [s.track_id for s in loaded.search(v[3], 5)] == [s.track_id for s in index.search(v[3], 5)]
