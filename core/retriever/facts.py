"""What a candidate track has that the previous pick lacks, as facts a user can state.

A refinement ("no vocals", "faster", "more piano", "calmer", "shorter") names how the
wanted track differs from the previous pick. :func:`fact_matrix` says, for every
candidate, which of those differences it has relative to the previous pick, with the
same definitions and thresholds that the conversation data uses to write preferences
(:func:`core.data.synth.facts_between`): vocals, tempo, more/less of a named instrument
or genre, energy and valence, length, another album or artist. The re-ranker learns
from the words which facts were asked for, and scores each candidate by the facts it has.

Each track is described by a small vector (:func:`fact_basis`): vocal probability and
tempo (NaN when unknown, so no fact about them holds), raw energy and valence (weighted
tag sums; the re-ranker divides differences by the catalog's spread, kept with its
weights), duration, album and artist codes, and the probabilities of the nameable tags.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch import Tensor

from core.data.synth import (ENERGY, GENRES, INSTRUMENTS, LENGTH_RATIO, MOOD_Z, TAG_FLOOR, TAG_MARGIN,
                             TEMPO_MIN_BPM, TEMPO_RATIO, VALENCE, merge_tags, short_album)

FACT_TAGS: tuple[str, ...] = tuple(sorted({**INSTRUMENTS, **GENRES}))
# How users name the tags ("beat" and "beats" are both "beats"): one fact per word.
TAG_WORDS: tuple[str, ...] = tuple(sorted({**INSTRUMENTS, **GENRES}.values()))
_SIMPLE = ("vocals.none", "vocals.with", "tempo.faster", "tempo.slower", "mood.energetic", "mood.calmer",
           "mood.happier", "mood.darker", "duration.shorter", "duration.longer", "album", "artist")
FACT_KEYS: tuple[str, ...] = (*_SIMPLE, *(f"more.{w}" for w in TAG_WORDS), *(f"less.{w}" for w in TAG_WORDS))
BASIS_DIM = 7 + len(FACT_TAGS)  # vocals, tempo, energy, valence, duration, album, artist, tags

_NAMES = {**INSTRUMENTS, **GENRES}
_WORD_OF_TAG = np.zeros((len(FACT_TAGS), len(TAG_WORDS)), np.float32)
for _i, _t in enumerate(FACT_TAGS):
    _WORD_OF_TAG[_i, TAG_WORDS.index(_NAMES[_t])] = 1.0


def _code(name: str | None) -> float:
    # Integers below 2**24 are exact in float32 (descriptors keep the facts in float32); 0 means "none".
    return float(zlib.crc32(name.encode()) % 16_777_213 + 1) if name else 0.0


def fact_basis(tracks) -> np.ndarray:
    """[N, BASIS_DIM] for catalog rows (anything with tags, vocal_prob, tempo_bpm, duration_s,
    album, artist; ``tags`` as stored: {vocabulary: {tag: probability}})."""
    out = np.zeros((len(tracks), BASIS_DIM), np.float32)
    for i, t in enumerate(tracks):
        tags = merge_tags(t.tags)
        artist = t.artist if t.artist and len(t.artist) <= 40 else None
        out[i, :7] = (np.nan if t.vocal_prob is None else t.vocal_prob, t.tempo_bpm or np.nan,
                      sum(w * tags.get(k, 0.0) for k, w in ENERGY.items()),
                      sum(w * tags.get(k, 0.0) for k, w in VALENCE.items()),
                      t.duration_s or np.nan, _code(short_album(t.album)), _code(artist))
        out[i, 7:] = [tags.get(k, 0.0) for k in FACT_TAGS]
    return out


def mood_scale(basis: np.ndarray) -> np.ndarray:
    """The catalog's spread of energy and valence (what "calmer" is measured against)."""
    sd = basis[:, 2:4].astype(np.float64).std(0) if len(basis) else np.ones(2)
    return np.where(sd > 0, sd, 1.0).astype(np.float32)


def fact_matrix(cand: Tensor, prev: Tensor, scale: Tensor) -> Tensor:
    """cand [B, C, BASIS_DIM], prev [B, BASIS_DIM], scale [2] -> [B, C, len(FACT_KEYS)] in {0, 1}:
    which facts hold of each candidate relative to the previous pick."""
    p = prev[:, None]
    cv, pv = cand[..., 0], p[..., 0]
    vocals_none = (cv < 0.5) & (pv >= 0.5)
    vocals_with = (pv < 0.5) & (cv >= 0.5)
    ct, pt = cand[..., 1], p[..., 1]
    hi, lo = torch.maximum(ct, pt), torch.minimum(ct, pt)
    tempo = (hi >= lo * TEMPO_RATIO) & (hi - lo >= TEMPO_MIN_BPM)
    faster, slower = tempo & (ct > pt), tempo & (ct < pt)
    energy = (cand[..., 2] - p[..., 2]) / scale[0]
    valence = (cand[..., 3] - p[..., 3]) / scale[1]
    cd, pd = cand[..., 4], p[..., 4]
    shorter = cd * LENGTH_RATIO <= pd
    longer = (pd * LENGTH_RATIO <= cd) & ~shorter
    album = (cand[..., 5] > 0) & (cand[..., 5] != p[..., 5])
    artist = (cand[..., 6] > 0) & (cand[..., 6] != p[..., 6])
    a, b = cand[..., 7:], p[..., 7:]
    words = torch.as_tensor(_WORD_OF_TAG, device=cand.device)
    more = (((a - b >= TAG_MARGIN) & (a >= TAG_FLOOR)).float() @ words) > 0
    less = (((b - a >= TAG_MARGIN) & (b >= TAG_FLOOR)).float() @ words) > 0
    simple = torch.stack([vocals_none, vocals_with, faster, slower, energy >= MOOD_Z, energy <= -MOOD_Z,
                          valence >= MOOD_Z, valence <= -MOOD_Z, shorter, longer, album, artist], dim=-1)
    return torch.cat([simple.float(), more.float(), less.float()], dim=-1)


def stated_facts(record: dict) -> tuple[int, ...]:
    """Indices into FACT_KEYS of the facts a synthesised preference states (its ``facts`` field:
    ``{"tempo": "faster", "more": ["piano"], "mood": ["calmer"], "album": "...", ...}``)."""
    keys = []
    for kind, value in (record.get("facts") or {}).items():
        if kind in ("more", "less"):
            keys += [f"{kind}.{_NAMES[tag]}" for tag in value if tag in _NAMES]
        elif kind in ("album", "artist"):
            keys.append(kind)
        else:
            keys += [f"{kind}.{v}" for v in (value if isinstance(value, list) else [value])]
    return tuple(sorted({FACT_KEYS.index(k) for k in keys if k in FACT_KEYS}))
