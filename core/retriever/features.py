"""Turning catalog tracks into the music tower's input vector.

A track is described by its pooled audio features, its tag probabilities (in a fixed
vocabulary order), tempo, vocal probability, and a text embedding of its metadata
(title, artist, album, source). The vocabulary is saved with each checkpoint so a
checkpoint reads tracks the same way it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.db.models import Track
from core.retriever.facts import fact_basis


def tag_vocabulary(tracks: list[Track]) -> list[str]:
    """Every "<vocab>:<tag>" key present in the tracks' tags, sorted."""
    keys = {f"{vocab}:{tag}" for t in tracks for vocab, tags in (t.tags or {}).items() for tag in tags}
    return sorted(keys)


def metadata_text(t: Track) -> str:
    parts = [t.title]
    if t.artist:
        parts.append(f"by {t.artist}")
    if t.album:
        parts.append(f"from {t.album}")
    if t.source:
        parts.append(f"({t.source.replace('-', ' ')})")
    return " ".join(parts)


@dataclass
class TrackTable:
    """Aligned arrays for a set of tracks (the music tower's inputs and the filters' facts).

    pooled [N, Dm], segments [N, S, Dm], seg_mask [N, S], scalars [N, V + 4]
    (tag probabilities, tempo/200, tempo known, P(vocals), vocals known), meta [N, Dt],
    facts [N, BASIS_DIM] (what the re-ranker's facts are read from: core.retriever.facts).
    """

    ids: np.ndarray
    hashes: list[str]
    pooled: np.ndarray
    segments: np.ndarray
    seg_mask: np.ndarray
    scalars: np.ndarray
    meta: np.ndarray
    vocal_prob: np.ndarray
    duration_s: np.ndarray
    tempo_bpm: np.ndarray
    facts: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, hashes: list[str]) -> np.ndarray:
        pos = {h: i for i, h in enumerate(self.hashes)}
        return np.array([pos[h] for h in hashes], dtype=np.int64)


def scalar_features(t: Track, vocab: list[str]) -> np.ndarray:
    index = {k: i for i, k in enumerate(vocab)}
    out = np.zeros(len(vocab) + 4, np.float32)
    for v, tags in (t.tags or {}).items():
        for tag, p in tags.items():
            i = index.get(f"{v}:{tag}")
            if i is not None:
                out[i] = p
    if t.tempo_bpm:
        out[len(vocab)] = t.tempo_bpm / 200.0
        out[len(vocab) + 1] = 1.0
    if t.vocal_prob is not None:
        out[len(vocab) + 2] = t.vocal_prob
        out[len(vocab) + 3] = 1.0
    return out


def build_track_table(tracks: list[Track], vocab: list[str], store, text_encoder, max_segments: int = 8) -> TrackTable:
    """Read features from ``store`` (FeatureStore) and embed metadata with ``text_encoder``."""
    hashes = [t.content_hash for t in tracks]
    pooled, segments, mask = store.load_many(hashes, max_segments=max_segments)
    scalars = np.stack([scalar_features(t, vocab) for t in tracks]) if tracks else np.zeros((0, len(vocab) + 4))
    meta = _embed(text_encoder, [metadata_text(t) for t in tracks])
    return TrackTable(
        ids=np.array([t.id for t in tracks], np.int64), hashes=hashes, pooled=pooled, segments=segments,
        seg_mask=mask, scalars=scalars.astype(np.float32), meta=meta,
        vocal_prob=np.array([np.nan if t.vocal_prob is None else t.vocal_prob for t in tracks], np.float32),
        duration_s=np.array([t.duration_s for t in tracks], np.float32),
        tempo_bpm=np.array([np.nan if t.tempo_bpm is None else t.tempo_bpm for t in tracks], np.float32),
        facts=fact_basis(tracks),
    )


def _embed(text_encoder, texts: list[str], batch: int = 128) -> np.ndarray:
    if not texts:
        return np.zeros((0, text_encoder.dim), np.float32)
    return np.concatenate([text_encoder.encode(texts[i:i + batch]).pooled for i in range(0, len(texts), batch)])
