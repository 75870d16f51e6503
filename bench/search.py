"""Index search latency and recall: exact vs HNSW at several catalog sizes.

Random unit vectors are the worst case for approximate search. ``--keys tower`` searches
keys like a real catalog's instead: the shipped music tower's output for mixtures of two
of the configured catalog's tracks (random mixing weight, 5 % noise on every input), whose
geometry is the index's real one (most of their variance in a few dozen directions).
Queries are catalog vectors with noise added. Prints one table; ``--json`` for the machine-readable form.
Not a test: numbers, not pass/fail.

The HNSW graph is the catalog's own (``VectorIndex``: M=32, efConstruction=80, efSearch=128)
up to 100,000 vectors. At 1,000,000 that build takes about 16 minutes on one core of the
2-core development machine, so the 1M row builds a lighter graph (M=16, efConstruction=40;
``--large-m`` / ``--large-ef-construction``) and says so in its result.

    python bench/search.py --sizes 10000 100000 1000000 --dim 256 [--json] [--quick]

``--quick``: 10,000 and 100,000 vectors with 100 queries (the suite's quick mode).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit_json  # noqa: E402
from core.catalog.index import TrackMeta, VectorIndex  # noqa: E402
from core.engine import TrackFilter  # noqa: E402

FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000,)


def _meta(n: int, rng) -> TrackMeta:
    return TrackMeta(np.arange(n, dtype=np.int64), rng.random(n).astype(np.float32),
                     rng.uniform(30, 400, n).astype(np.float32), rng.uniform(60, 180, n).astype(np.float32))


LARGE = 1_000_000


def tower_keys(n: int, rng) -> np.ndarray:
    """Music-tower keys for ``n`` made-up tracks, each a mixture of two catalog tracks."""
    import torch

    from core.catalog.store import FeatureStore
    from core.config import get_settings
    from core.encoders import load_encoders
    from core.retriever.checkpoint import load_checkpoint
    from core.retriever.features import build_track_table
    from core.retriever.train import catalog_tracks

    settings = get_settings()
    loaded = load_checkpoint(settings)
    enc = load_encoders(settings, parts=("text", "music"))
    tracks = catalog_tracks(settings, enc.music.name)
    if len(tracks) < 2:
        raise SystemExit("--keys tower needs a catalog (`musechat catalog demo`)")
    table = build_track_table(tracks, loaded.vocab, FeatureStore(settings.catalog_dir), enc.text)
    out = []
    for start in range(0, n, 10_000):
        m = min(10_000, n - start)
        i, j = rng.integers(0, len(table), m), rng.integers(0, len(table), m)
        a = rng.random(m).astype(np.float32)[:, None]

        def mix(x):
            y = a * x[i] + (1 - a) * x[j]
            return torch.from_numpy((y * (1 + 0.05 * rng.normal(size=y.shape))).astype(np.float32))

        with torch.no_grad():
            out.append(loaded.model.keys(mix(table.pooled), mix(table.scalars), mix(table.meta)).numpy())
    return np.concatenate(out)


def run(n: int, dim: int, queries: int, ef_search: int, rng, hnsw_m: int = 32, ef_construction: int = 80,
        keys: str = "random") -> dict:
    if keys == "tower":
        v = tower_keys(n, rng)
        dim = v.shape[1]
    else:
        v = rng.normal(size=(n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    meta = _meta(n, rng)
    q = v[rng.integers(0, n, queries)] + rng.normal(scale=0.5, size=(queries, dim)).astype(np.float32) / np.sqrt(dim)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = VectorIndex(v, meta, exact_limit=n + 1)
    t0 = time.perf_counter()
    approx = VectorIndex(v, meta, exact_limit=0, ef_search=ef_search, hnsw_m=hnsw_m,
                         ef_construction=ef_construction)
    build_s = time.perf_counter() - t0
    out = {"n": n, "dim": dim, "keys": keys, "queries": queries, "hnsw_m": hnsw_m, "hnsw_ef_construction": ef_construction,
           "hnsw_ef_search": ef_search, "hnsw_build_s": round(build_s, 1)}
    truth = []
    for name, index in (("exact", exact), ("hnsw", approx)):
        index.search(q[0], 10)  # warm-up
        lat, hits = [], []
        for i, qi in enumerate(q):
            t = time.perf_counter()
            res = index.search(qi, 10)
            lat.append((time.perf_counter() - t) * 1000)
            ids = [r.track_id for r in res]
            if name == "exact":
                truth.append(set(ids))
            else:
                hits.append(len(truth[i] & set(ids)) / 10)
        out[f"{name}_p50_ms"] = round(float(np.percentile(lat, 50)), 3)
        out[f"{name}_p99_ms"] = round(float(np.percentile(lat, 99)), 3)
        if name == "hnsw":
            out["hnsw_recall@10"] = round(float(np.mean(hits)), 4)
    t = time.perf_counter()
    for qi in q[:50]:
        approx.search(qi, 10, TrackFilter(instrumental_only=True, bpm_min=100, bpm_max=140))
    out["hnsw_filtered_ms"] = round((time.perf_counter() - t) * 1000 / 50, 3)
    out["speedup_exact_over_hnsw"] = round(out["exact_p50_ms"] / max(out["hnsw_p50_ms"], 1e-6), 1)
    return out


def size_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def measure(sizes=FULL_SIZES, dim: int = 256, queries: int = 200, ef_search: int = 128, say=print,
            large_m: int = 16, large_ef_construction: int = 40, keys: str = "random") -> dict:
    """One result per size, keyed "10k", "100k", "1M": p50/p99 in ms for exact and HNSW,
    HNSW recall@10 against exact, HNSW build seconds, exact/HNSW latency ratio."""
    rng = np.random.default_rng(0)
    out = {}
    for n in sizes:
        t0 = time.perf_counter()
        graph = dict(hnsw_m=large_m, ef_construction=large_ef_construction) if n >= LARGE else {}
        out[size_label(n)] = run(n, dim, queries, ef_search, rng, keys=keys, **graph)
        say(f"{n:,} vectors done in {time.perf_counter() - t0:.0f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--ef-search", type=int, default=128)
    ap.add_argument("--large-m", type=int, default=16, help="HNSW M from 1M vectors up")
    ap.add_argument("--large-ef-construction", type=int, default=40, help="HNSW efConstruction from 1M vectors up")
    ap.add_argument("--quick", action="store_true", help="10k vectors only, 100 queries")
    ap.add_argument("--keys", choices=("random", "tower"), default="random",
                    help="random unit vectors, or music-tower keys of made-up tracks mixed from the catalog's")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    queries = args.queries or (100 if args.quick else 200)
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    result = measure(sizes, args.dim, queries, args.ef_search, say, args.large_m, args.large_ef_construction, args.keys)
    if args.json:
        emit_json(result)
        return
    rows = list(result.values())
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    print("targets: p50 <= 5 ms at 1M vectors with recall@10 >= 0.95 against exact search")


if __name__ == "__main__":
    main()
