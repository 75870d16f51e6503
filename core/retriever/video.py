"""Video -> frame features, cached by the video's content hash (turn 2 never decodes again)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.config import Settings
from core.engine import VideoAnalysis


def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class VideoAnalyser:
    def __init__(self, frame_encoder, settings: Settings):
        self.encoder = frame_encoder
        self.settings = settings

    def cache_path(self, digest: str) -> Path:
        # The encoder name is part of the key: switching profiles must not reuse features.
        return self.settings.cache_dir / "videos" / self.encoder.name / f"{digest}.npz"

    def cached(self, digest: str) -> VideoAnalysis | None:
        p = self.cache_path(digest)
        return VideoAnalysis.load(p) if p.exists() else None

    def analyse(self, path: Path, digest: str | None = None) -> VideoAnalysis:
        """Decode ``num_frames`` frames, encode them, keep a few labels; cached on disk."""
        from core.media import decode_video

        digest = digest or content_hash(path)
        hit = self.cached(digest)
        if hit is not None:
            return hit
        video = decode_video(path, num_frames=self.settings.num_frames, settings=self.settings)
        feats, labels = self.encoder.encode_with_labels(video.frames, k=3)
        analysis = VideoAnalysis(content_hash=digest, duration_s=video.duration_s, frame_features=feats,
                                 labels=labels, encoder=self.encoder.name)
        analysis.save(self.cache_path(digest))
        return analysis
