"""Index search latency and recall: exact vs HNSW at several catalog sizes.

Random unit vectors are the worst case for approximate search; the real-embedding row
uses the demo catalog's music-tower keys repeated with noise. Prints one table;
``--json`` for the machine-readable form. Not a test: numbers, not pass/fail.

    python bench/search.py --sizes 10000 100000 1000000 --dim 256
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from core.catalog.index import TrackMeta, VectorIndex
from core.engine import TrackFilter


def _meta(n: int, rng) -> TrackMeta:
    return TrackMeta(np.arange(n, dtype=np.int64), rng.random(n).astype(np.float32),
                     rng.uniform(30, 400, n).astype(np.float32), rng.uniform(60, 180, n).astype(np.float32))


def run(n: int, dim: int, queries: int, ef_search: int, rng) -> dict:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    meta = _meta(n, rng)
    q = v[rng.integers(0, n, queries)] + rng.normal(scale=0.5, size=(queries, dim)).astype(np.float32) / np.sqrt(dim)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = VectorIndex(v, meta, exact_limit=n + 1)
    t0 = time.perf_counter()
    approx = VectorIndex(v, meta, exact_limit=0, ef_search=ef_search)
    build_s = time.perf_counter() - t0
    out = {"n": n, "dim": dim, "hnsw_build_s": round(build_s, 1)}
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ef-search", type=int, default=128)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = [run(n, args.dim, args.queries, args.ef_search, rng) for n in args.sizes]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    print("targets: p50 <= 5 ms at 1M vectors with recall@10 >= 0.95 against exact search")


if __name__ == "__main__":
    main()
