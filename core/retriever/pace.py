"""Pace pairs: the same footage cut as fast cuts and as slow motion, and whether the picks follow.

People post a skate clip and expect energy, a slow rainy street and expect something
calmer. A *pace pair* shows the same footage twice: the **fast** edit is four shots
played at 3x speed, the **slow** edit one shot at 1/3 speed, both the same length. The
fast edit succeeds when its top-5 picks have a higher median tempo **and** a higher
median energy than the slow edit's (catalog facts: the reconciled tempo and the
tag-based energy of :func:`core.retriever.facts.fact_basis`).

:func:`choose_pace_weight` picks the scene head's pace weight on pairs made from
*training* footage; reported pace numbers come from other footage (``bench/pace.py``,
tests that make their own).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

EDIT_SECONDS = 6.0
EDIT_FPS = 12
EDIT_SIZE = (256, 144)
FAST_SHOTS = 4
FAST_SPEED = 3.0
SLOW_SPEED = 1 / 3


def read_frames(path: Path, max_seconds: float = 20.0, size: tuple[int, int] = EDIT_SIZE
                ) -> tuple[list[np.ndarray], float]:
    """All frames of the first ``max_seconds`` of a video, resized to ``size``; (frames, fps)."""
    import av

    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        for frame in container.decode(stream):
            if frame.time is not None and frame.time > max_seconds:
                break
            frames.append(frame.to_ndarray(width=size[0], height=size[1], format="rgb24"))
    if len(frames) < 2:
        raise ValueError(f"{path}: fewer than two frames")
    return frames, fps


def fast_and_slow(frames: list[np.ndarray], fps: float, seconds: float = EDIT_SECONDS, out_fps: int = EDIT_FPS
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(fast, slow) edits of the same footage, each ``seconds`` long at ``out_fps``.

    fast: FAST_SHOTS shots from evenly spaced starts, each played at FAST_SPEED;
    slow: one shot from the middle played at SLOW_SPEED (frames repeat as slow motion does).
    """
    n_out = int(round(seconds * out_fps))
    duration = len(frames) / fps

    def at(t: float) -> np.ndarray:
        return frames[min(len(frames) - 1, max(0, int(t * fps)))]

    per_shot = n_out // FAST_SHOTS
    shot_source = per_shot / out_fps * FAST_SPEED
    starts = np.linspace(0.0, max(0.0, duration - shot_source), FAST_SHOTS)
    # Shots in an order that jumps across the footage, so each cut is visible.
    order = [0, 2, 1, 3] if FAST_SHOTS == 4 else list(range(FAST_SHOTS))
    fast = [at(starts[s] + j / out_fps * FAST_SPEED) for s in order for j in range(per_shot)]
    fast += [fast[-1]] * (n_out - len(fast))
    slow_source = n_out / out_fps * SLOW_SPEED
    start = max(0.0, (duration - slow_source) / 2)
    slow = [at(start + j / out_fps * SLOW_SPEED) for j in range(n_out)]
    return fast, slow


def write_mp4(frames: list[np.ndarray], path: Path, fps: int = EDIT_FPS) -> Path:
    """H.264 mp4 of RGB frames (even width and height), deterministic."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", "threads": "1"}
        stream.codec_context.thread_count = 1
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def synthetic_footage(seed: int, seconds: float = 8.0, fps: int = 24, size: tuple[int, int] = EDIT_SIZE
                      ) -> list[np.ndarray]:
    """Made-up footage: a camera drifting over a smooth random landscape with a few moving
    blobs, in a random palette and light. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    W, H = w * 3, h * 2
    # Smooth noise: a few octaves of upsampled random grids.
    field = np.zeros((H, W), np.float32)
    for octave in (4, 8, 16, 32):
        g = rng.random((octave, octave * 2)).astype(np.float32)
        field += np.kron(g, np.ones((H // octave + 1, W // (octave * 2) + 1), np.float32))[:H, :W] / octave
    field = (field - field.min()) / max(1e-6, field.max() - field.min())
    palette = rng.random((3, 3)).astype(np.float32)  # colours at field = 0, 0.5, 1
    light = rng.uniform(0.25, 1.0)
    lo, mid, hi = palette
    img = np.where(field[..., None] < 0.5, lo + (mid - lo) * (field[..., None] * 2),
                   mid + (hi - mid) * (field[..., None] * 2 - 1)) * light
    blobs = [(rng.uniform(0, W), rng.uniform(0, H), rng.uniform(-60, 60), rng.uniform(-30, 30),
              rng.uniform(8, 24), rng.random(3)) for _ in range(4)]
    vx, vy = rng.uniform(20, 60) * rng.choice([-1, 1]), rng.uniform(-10, 10)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(int(seconds * fps)):
        t = i / fps
        x0 = int(np.clip(W / 3 + vx * t, 0, W - w))
        y0 = int(np.clip(H / 4 + vy * t, 0, H - h))
        f = img[y0:y0 + h, x0:x0 + w].copy()
        for bx, by, bvx, bvy, r, c in blobs:
            cx, cy = (bx + bvx * t - x0) % w, (by + bvy * t - y0) % h
            mask = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
            f[mask] = c * light
        frames.append((np.clip(f, 0, 1) * 255).astype(np.uint8))
    return frames


def pair_success(fast_top: np.ndarray, slow_top: np.ndarray, tempo: np.ndarray, energy: np.ndarray
                 ) -> tuple[bool, bool]:
    """(higher median tempo, higher median energy) of the fast edit's picks over the slow edit's.

    ``fast_top``/``slow_top``: catalog rows of each edit's top picks; ``tempo``/``energy`` [N]
    per catalog row (NaN tempo = unknown, left out of the median)."""
    def med(a: np.ndarray, rows: np.ndarray) -> float:
        v = a[rows]
        v = v[np.isfinite(v)]
        return float(np.median(v)) if len(v) else float("nan")

    return bool(med(tempo, fast_top) > med(tempo, slow_top)), bool(med(energy, fast_top) > med(energy, slow_top))
