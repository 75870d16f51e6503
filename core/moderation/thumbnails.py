"""A video's thumbnail strip for the console: a row of frames sampled across the video.

Uploads are untrusted, so the console's process never decodes them: the frames are
decoded by :func:`core.media.decode_video` (the one place that decodes media, with its
size, duration, pixel and time limits) in a short-lived child process that also runs
under CPU-time and memory limits, so a hostile file can at worst kill that child. The
strip (JPEG) is cached by the video's content hash; a video that cannot be decoded gets
a marker file, so it is tried once, not on every page view.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from core.config import Settings

log = logging.getLogger(__name__)

FRAMES = 8
SIZE = 96  # pixels, each frame square
# The child's address-space limit: generous for a bounded decode, fatal for a memory bomb.
MEMORY_LIMIT_BYTES = 3 * 1024**3
_LIMITS = ("max_upload_mb", "max_video_seconds", "max_frame_pixels", "decode_timeout_s")

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _folder(settings: Settings) -> Path:
    return settings.cache_dir / "thumbnails"


def strip_path(settings: Settings, content_hash: str) -> Path:
    return _folder(settings) / f"{content_hash}.jpg"


def _failed_path(settings: Settings, content_hash: str) -> Path:
    return _folder(settings) / f"{content_hash}.failed"


def cached_files(settings: Settings, content_hash: str) -> list[Path]:
    """The files cached for a video (for deletion)."""
    return [p for p in (strip_path(settings, content_hash), _failed_path(settings, content_hash)) if p.exists()]


def cached_hashes(settings: Settings) -> set[str]:
    folder = _folder(settings)
    return {p.stem for p in folder.iterdir()} if folder.is_dir() else set()


def thumbnail_strip(video: Path, content_hash: str, settings: Settings) -> Path | None:
    """The strip's path (made now if not cached), or None when the video cannot be decoded.

    The strip is ``FRAMES`` (or fewer, for very short videos) ``SIZE`` x ``SIZE`` frames
    side by side, JPEG.
    """
    out, failed = strip_path(settings, content_hash), _failed_path(settings, content_hash)
    if out.exists():
        return out
    if failed.exists() or not video.is_file():
        return None
    with _locks_guard:
        lock = _locks.setdefault(content_hash, threading.Lock())
    with lock:  # one decode per video, however many pages ask at once
        if out.exists():
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        limits = json.dumps({k: getattr(settings, k) for k in _LIMITS})
        timeout = settings.decode_timeout_s + 15
        try:
            done = subprocess.run(
                [sys.executable, "-m", "core.moderation.thumbnails", str(video), str(out), limits],
                capture_output=True, timeout=timeout, check=False,
                env={**os.environ, "OMP_NUM_THREADS": "1"})
            ok = done.returncode == 0 and out.exists()
            if not ok:
                log.info("no thumbnails for %s: %s", content_hash, done.stderr.decode(errors="replace")[-300:])
        except subprocess.TimeoutExpired:
            log.info("no thumbnails for %s: decoding timed out", content_hash)
            ok = False
        if not ok:
            failed.touch()
        return out if ok else None


def _limit_self(cpu_seconds: float) -> None:
    # Set by the child itself (preexec_fn is unsafe in the threaded server process).
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds), int(cpu_seconds) + 1))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def _write_strip(video: Path, out: Path, limits: dict) -> None:
    """The child's work: decode, lay the frames side by side, write the JPEG atomically."""
    import numpy as np
    from PIL import Image

    from core.media import decode_video

    settings = Settings(**limits)
    decoded = decode_video(video, num_frames=FRAMES, size=SIZE, settings=settings)
    strip = np.concatenate(list(decoded.frames), axis=1)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    Image.fromarray(strip).save(tmp, format="JPEG", quality=80)
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a video's thumbnail strip (JPEG).")
    parser.add_argument("video", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("limits", help="JSON object of decode limits (settings names)")
    args = parser.parse_args(argv)
    limits = json.loads(args.limits)
    _limit_self(float(limits.get("decode_timeout_s", 60)) + 10)
    from core.errors import UserError

    try:
        _write_strip(args.video, args.out, limits)
    except UserError as exc:
        print(f"cannot decode: {exc.user_message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
