"""What the explainer may say about a pick: the track's facts and the video's measured facts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Tempo words are the catalog's feel bands (one definition), so the references, the fallback
# sentence and the guard say what every display's feel word says.
from core.catalog.tempo import tempo_feel as tempo_band  # noqa: F401
from core.video_facts import VideoFacts


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
    video: VideoFacts | None  # measured facts about the video; None: nothing may be said about it
    preference: str | None  # the user's request as of the latest message, untrusted
