"""Vector search over catalog keys with hard filters (FAISS).

Small catalogs use exact inner-product search; above ``exact_limit`` vectors an HNSW
graph. Filters (instrumental only, duration, BPM range, excluded tracks) are applied
*inside* the search with an ID selector, and when the filter is very selective or the
graph returns too few hits, the allowed subset is searched exactly — so a filter never
costs results that exist. Vectors are L2-normalised: inner product = cosine.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import faiss

# Building a graph uses every core; searching one query at a time does not: OpenMP
# fan-out costs more than it saves there, and spins badly when the machine is busy.
_BUILD_THREADS = faiss.omp_get_max_threads()
faiss.omp_set_num_threads(1)
import numpy as np

from core.engine import ScoredTrack, TrackFilter


@dataclass
class TrackMeta:
    """Per-vector facts the filters need, aligned with the index rows."""

    ids: np.ndarray  # [N] int64 track ids
    vocal_prob: np.ndarray  # [N] float32, NaN = unknown
    duration_s: np.ndarray  # [N] float32
    tempo_bpm: np.ndarray  # [N] float32, NaN = unknown

    def allowed(self, flt: TrackFilter, exclude: Collection[int] = ()) -> np.ndarray:
        """[N] bool: rows that pass the filter and are not excluded."""
        ok = np.ones(len(self.ids), bool)
        if flt.instrumental_only:
            ok &= np.nan_to_num(self.vocal_prob, nan=1.0) < 0.5
        if flt.vocals_only:
            ok &= np.nan_to_num(self.vocal_prob, nan=0.0) >= 0.5
        if flt.min_duration_s is not None:
            ok &= self.duration_s >= flt.min_duration_s
        if flt.max_duration_s is not None:
            ok &= self.duration_s <= flt.max_duration_s
        if flt.bpm_min is not None:
            ok &= np.nan_to_num(self.tempo_bpm, nan=-1.0) >= flt.bpm_min
        if flt.bpm_max is not None:
            ok &= np.nan_to_num(self.tempo_bpm, nan=1e9) <= flt.bpm_max
        if exclude:
            ok &= ~np.isin(self.ids, np.fromiter(exclude, np.int64))
        return ok


class VectorIndex:
    """FAISS index over normalised keys [N, D] with filtered top-k search."""

    def __init__(self, vectors: np.ndarray, meta: TrackMeta, *, exact_limit: int = 50_000,
                 hnsw_m: int = 32, ef_construction: int = 80, ef_search: int = 128, index=None):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.meta = meta
        self.dim = self.vectors.shape[1]
        self.ef_search = ef_search
        if index is not None:
            self.index = index
        elif len(self.vectors) <= exact_limit:
            self.index = faiss.IndexFlatIP(self.dim)
            self.index.add(self.vectors)
        else:
            self.index = faiss.IndexHNSWFlat(self.dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = ef_construction
            faiss.omp_set_num_threads(_BUILD_THREADS)
            try:
                self.index.add(self.vectors)
            finally:
                faiss.omp_set_num_threads(1)
        self.kind = "hnsw" if isinstance(self.index, faiss.IndexHNSW) else "exact"

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, query: np.ndarray, k: int, flt: TrackFilter | None = None,
               exclude: Collection[int] = ()) -> list[ScoredTrack]:
        """Top-k tracks for one query vector [D] that pass ``flt`` and are not in ``exclude``."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        flt = flt or TrackFilter()
        if flt.is_empty() and not exclude:
            scores, rows = self._search(q, k, None)
        else:
            allowed = self.meta.allowed(flt, exclude)
            n_allowed = int(allowed.sum())
            if n_allowed == 0:
                return []
            if self.kind == "exact" or n_allowed <= 20_000:
                scores, rows = self._exact_subset(q, k, allowed)
            else:
                # One argument: faiss takes the packed bytes (its n counts bytes) and keeps them
                # alive as long as the selector; the two-argument form wants a raw pointer.
                sel = faiss.IDSelectorBitmap(np.packbits(allowed, bitorder="little"))
                scores, rows = self._search(q, k, sel)
                if (rows >= 0).sum() < min(k, n_allowed):  # the graph ran out of allowed neighbours
                    scores, rows = self._exact_subset(q, k, allowed)
        return [ScoredTrack(int(self.meta.ids[r]), float(s)) for s, r in zip(scores, rows) if r >= 0]

    def _search(self, q: np.ndarray, k: int, sel) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k), sel=sel)
        else:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
        scores, rows = self.index.search(q, min(k, len(self)), params=params)
        return scores[0], rows[0]

    def _exact_subset(self, q: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.flatnonzero(allowed)
        sims = self.vectors[rows] @ q[0]
        top = np.argsort(-sims)[:k]
        return sims[top], rows[top]

    # --- persistence ------------------------------------------------------------------
    def save(self, folder: Path, manifest: dict) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        np.savez(folder / "rows.npz", vectors=self.vectors, ids=self.meta.ids, vocal_prob=self.meta.vocal_prob,
                 duration_s=self.meta.duration_s, tempo_bpm=self.meta.tempo_bpm)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    @classmethod
    def load(cls, folder: Path) -> tuple[VectorIndex, dict]:
        manifest = json.loads((folder / "manifest.json").read_text())
        with np.load(folder / "rows.npz") as d:
            meta = TrackMeta(d["ids"], d["vocal_prob"], d["duration_s"], d["tempo_bpm"])
            vectors = d["vectors"]
        return cls(vectors, meta, index=faiss.read_index(str(folder / "index.faiss"))), manifest
