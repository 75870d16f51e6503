"""Video -> frame features and video facts, cached by the video's content hash
(turn 2 never decodes again)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from core.config import Settings
from core.engine import VideoAnalysis
from core.video_facts import BURST_FRAMES, BURST_STEP_S, FACTS_VERSION, measure


def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def base_frames(timestamps: list[float], duration_s: float, num_frames: int) -> list[int]:
    """Indices of the frames on screen at the evenly spaced sample times (the middle of each
    of ``num_frames`` equal segments) among burst-sampled frames, without repeats."""
    times = np.asarray(timestamps)
    out = []
    for i in range(num_frames):
        t = (i + 0.5) * duration_s / num_frames
        j = int(np.searchsorted(times, t + 1e-6, side="right")) - 1
        j = max(0, j)
        if not out or out[-1] != j:
            out.append(j)
    return out


class VideoAnalyser:
    def __init__(self, frame_encoder, settings: Settings):
        self.encoder = frame_encoder
        self.settings = settings

    def cache_path(self, digest: str) -> Path:
        # The encoder name and the facts version are part of the key: switching profiles
        # or changing a measurement must not reuse old analyses.
        return self.settings.cache_dir / "videos" / self.encoder.name / f"facts-v{FACTS_VERSION}" / f"{digest}.npz"

    def cached(self, digest: str) -> VideoAnalysis | None:
        p = self.cache_path(digest)
        return VideoAnalysis.load(p) if p.exists() else None

    def analyse(self, path: Path, digest: str | None = None) -> VideoAnalysis:
        """Decode frames in bursts, encode the evenly spaced ones, measure the video facts; cached on disk."""
        from core.media import decode_video

        digest = digest or content_hash(path)
        hit = self.cached(digest)
        if hit is not None:
            return hit
        n = self.settings.num_frames
        video = decode_video(path, num_frames=n, settings=self.settings, burst=BURST_FRAMES,
                             burst_step_s=BURST_STEP_S)
        base = base_frames(video.timestamps, video.duration_s, n)
        feats, labels = self.encoder.encode_with_content(video.frames[base])
        facts = measure(video.frames, video.timestamps, labels)
        analysis = VideoAnalysis(content_hash=digest, duration_s=video.duration_s, frame_features=feats,
                                 labels=[label.name for label in labels], encoder=self.encoder.name, facts=facts)
        analysis.save(self.cache_path(digest))
        return analysis
