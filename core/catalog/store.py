"""Per-track music features on disk, next to the SQL catalog.

One ``.npz`` per track under ``<catalog_dir>/features/<content_hash>.npz`` with
``segments`` [S, D] float32, ``pooled`` [D] float32 and ``version`` (the encoder that
made them). SQL holds the metadata; features are read in bulk when an index is built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.encoders import MusicFeatures


class FeatureStore:
    def __init__(self, catalog_dir: Path):
        self.root = catalog_dir / "features"

    def path(self, content_hash: str) -> Path:
        return self.root / f"{content_hash}.npz"

    def save(self, content_hash: str, features: MusicFeatures, version: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path(content_hash)
        tmp = target.with_suffix(".tmp.npz")
        np.savez(tmp, segments=features.segments.astype(np.float32),
                 pooled=features.pooled.astype(np.float32), version=np.array(version))
        tmp.replace(target)

    def has(self, content_hash: str, version: str) -> bool:
        p = self.path(content_hash)
        if not p.exists():
            return False
        with np.load(p) as data:
            return str(data["version"]) == version

    def load(self, content_hash: str) -> MusicFeatures:
        with np.load(self.path(content_hash)) as data:
            return MusicFeatures(segments=data["segments"], pooled=data["pooled"])

    def load_many(self, hashes: list[str], max_segments: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stacked features: pooled [N, D], segments [N, S, D] zero-padded, mask [N, S] bool."""
        feats = [self.load(h) for h in hashes]
        if not feats:
            return np.zeros((0, 0), np.float32), np.zeros((0, max_segments, 0), np.float32), np.zeros((0, max_segments), bool)
        d = feats[0].pooled.shape[0]
        pooled = np.stack([f.pooled for f in feats]).astype(np.float32)
        segs = np.zeros((len(feats), max_segments, d), np.float32)
        mask = np.zeros((len(feats), max_segments), bool)
        for i, f in enumerate(feats):
            s = f.segments[:max_segments]
            segs[i, : len(s)] = s
            mask[i, : len(s)] = True
        return pooled, segs, mask
