"""What the explainer may say about a pick: the track's facts and what the video shows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Tempo bands used everywhere words about speed are produced or checked, so the
# references, the fallback sentence and the guard agree on what "fast" means.
SLOW_BELOW_BPM = 90.0
FAST_FROM_BPM = 120.0


@dataclass
class TrackFacts:
    track_id: int
    title: str
    artist: str | None
    tags: list[str]  # top tags, most confident first
    tempo_bpm: float | None
    instrumental: bool | None
    duration_s: float
    licence: str


@dataclass
class PickContext:
    track: TrackFacts
    music_embedding: np.ndarray  # [D] pooled music-encoder features, float32
    video_labels: list[str]  # what the frames show, e.g. ImageNet class names
    preference: str | None  # the user's latest words, untrusted


def tempo_band(bpm: float | None) -> str | None:
    """"slow" | "moderate" | "fast" for a tempo in beats per minute, None when unknown."""
    if bpm is None:
        return None
    if bpm < SLOW_BELOW_BPM:
        return "slow"
    if bpm < FAST_FROM_BPM:
        return "moderate"
    return "fast"
