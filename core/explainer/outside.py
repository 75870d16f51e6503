"""Faithfulness on inputs no synthesiser made: clips rendered here, feedback written by hand.

The evaluation set of ``musechat eval explainer``'s faithfulness figures:

* **clips**: :data:`CLIPS` are short videos rendered with numpy and written with PyAV, each
  built to be fast or slow, dark or bright, in known colours; their facts are then
  *measured* from the decoded file exactly as a user's upload is (burst-sampled frames,
  :func:`core.video_facts.measure`). No content classifier runs, so no clip has a confident
  content label: any object or setting an explanation names is unsupported.
* **feedback**: ``eval_phrasings.txt``, messages written by hand (some in other languages),
  none of which ``references.py`` synthesises; each is the request of one turn, and a few
  turns have no request (the first turn).
* **tracks**: real catalog tracks, the held-out split when it is large enough.

Every explanation is checked by ``core.explainer.claims`` twice: the LM's raw text, and the
text a user is shown after the guard.
"""

from __future__ import annotations

import random
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.explainer.claims import ClaimReport, summarise, verify
from core.explainer.facts import PickContext
from core.explainer.guard import OutputGuard
from core.video_facts import BURST_FRAMES, BURST_STEP_S, VideoFacts, measure

PHRASINGS_FILE = Path(__file__).with_name("eval_phrasings.txt")
CLIP_SECONDS = 4.0
CLIP_FPS = 12
CLIP_SIZE = (192, 112)  # width, height (even, for H.264)
FIRST_TURNS = 6  # turns without a request, beside one turn per phrasing
TRACKS_PER_TURN = 2
MIN_HELDOUT_TRACKS = 10


def phrasings(path: Path = PHRASINGS_FILE) -> list[str]:
    """The hand-written feedback messages (comments and blank lines skipped)."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


# --------------------------------------------------------------------------------------
# Clips built to have known facts
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipSpec:
    """How a clip is drawn: a two-colour pattern moving at ``speed`` pixels per frame,
    optionally cut between ``shots`` differently coloured shots every ``cut_every`` frames."""

    name: str
    colours: tuple[tuple[int, int, int], tuple[int, int, int]]  # RGB 0..255
    speed: float  # pattern drift in pixels per frame (0 = still)
    pace: str  # what the clip is built to be: still | slow | moderate | fast
    light: str | None  # dark | bright | None
    shots: int = 1
    cut_every: int = 0


_BLUE, _NAVY, _WHITE, _GREY = (40, 90, 220), (10, 20, 60), (240, 240, 240), (128, 128, 128)
_ORANGE, _YELLOW, _RED, _BLACK = (240, 140, 30), (245, 220, 60), (210, 30, 30), (8, 8, 8)
_GREEN, _DARKGREEN, _PURPLE, _PINK = (40, 170, 60), (10, 50, 20), (120, 40, 170), (240, 110, 190)
_TEAL = (20, 170, 170)
# Each shot of a cut clip has its own colours, so a cut changes the picture as cuts do.
_SHOT_COLOURS = ((_RED, _WHITE), (_BLUE, _YELLOW), (_GREEN, _BLACK), (_PURPLE, _ORANGE))

CLIPS: tuple[ClipSpec, ...] = (
    ClipSpec("fast bright orange stripes", (_ORANGE, _YELLOW), 9.0, "fast", "bright"),
    ClipSpec("slow dark blue night", (_NAVY, _BLACK), 1.6, "slow", "dark"),
    ClipSpec("still grey room", (_GREY, _WHITE), 0.0, "still", "bright"),
    ClipSpec("fast shots in changing colours", (_RED, _WHITE), 3.0, "fast", None, shots=4, cut_every=4),
    ClipSpec("slow warm red dusk", (_RED, _ORANGE), 0.35, "slow", None),
    ClipSpec("moderate teal water", (_TEAL, _BLUE), 2.5, "moderate", None),
    ClipSpec("slow dark green forest", (_DARKGREEN, _BLACK), 0.7, "slow", "dark"),
    ClipSpec("bright white snow", (_WHITE, (200, 210, 230)), 1.0, "slow", "bright"),
    ClipSpec("fast purple and pink", (_PURPLE, _PINK), 10.0, "fast", None),
    ClipSpec("still bright yellow", (_YELLOW, _WHITE), 0.0, "still", "bright"),
)


def render(spec: ClipSpec, seconds: float = CLIP_SECONDS, fps: int = CLIP_FPS,
           size: tuple[int, int] = CLIP_SIZE) -> list[np.ndarray]:
    """The clip's frames, [H, W, 3] uint8 each: soft bands of the two colours with some
    texture, drifting by ``spec.speed`` pixels a frame; a cut swaps in another shot (the
    pattern rotated, in the next shot's colours)."""
    w, h = size
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()))
    texture = rng.normal(0.0, 6.0, (h, w, 1)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(int(seconds * fps)):
        shot = (i // spec.cut_every) % spec.shots if spec.cut_every else 0
        angle = shot * 0.9
        coord = xx * np.cos(angle) + yy * np.sin(angle) + spec.speed * i
        mix = (0.5 + 0.5 * np.sin(coord / 9.0))[..., None]
        ca, cb = (np.array(c, np.float32) for c in (_SHOT_COLOURS[shot % 4] if spec.shots > 1 else spec.colours))
        frame = ca * mix + cb * (1 - mix) + texture
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def clip_facts(spec: ClipSpec, workdir: Path) -> VideoFacts:
    """Render ``spec`` to an mp4 in ``workdir`` and measure its facts from the decoded file,
    as the video analyser does for an upload (no content labels)."""
    from core.media import decode_video
    from core.retriever.pace import write_mp4

    path = write_mp4(render(spec), workdir / (spec.name.replace(" ", "_").replace(",", "") + ".mp4"), CLIP_FPS)
    video = decode_video(path, num_frames=8, burst=BURST_FRAMES, burst_step_s=BURST_STEP_S)
    return measure(video.frames, video.timestamps)


# --------------------------------------------------------------------------------------
# The evaluation
# --------------------------------------------------------------------------------------

@dataclass
class Turn:
    clip: str
    context: PickContext


def build_turns(tracks: Sequence, clips: Sequence[tuple[str, VideoFacts]], messages: Sequence[str],
                seed: int = 0) -> list[Turn]:
    """One turn per message plus FIRST_TURNS without one, each on a clip (in turn) and
    TRACKS_PER_TURN catalog tracks (drawn with ``seed``). ``tracks``: CatalogTracks."""
    rng = random.Random(seed)
    requests: list[str | None] = [None] * FIRST_TURNS + list(messages)
    out = []
    for i, request in enumerate(requests):
        name, facts = clips[i % len(clips)]
        for track in rng.sample(list(tracks), min(TRACKS_PER_TURN, len(tracks))):
            out.append(Turn(name, PickContext(track.facts, track.embedding, facts, request)))
    return out


def outside_size(limit: int | None = None) -> int:
    """How many explanations :func:`evaluate_outside` writes."""
    n = (FIRST_TURNS + len(phrasings())) * TRACKS_PER_TURN
    return min(n, limit) if limit else n


def _figures(reports: list[ClaimReport]) -> dict:
    figures = summarise(reports).as_dict()
    # The target "no object or setting below its confidence threshold": explanations that
    # name one the facts don't hold (no clip here has a confident label).
    figures["explanations_naming_unsupported_objects"] = sum(
        any(c.kind == "scene" and not c.supported for c in r.claims) for r in reports)
    return figures


def evaluate_outside(explainer, tracks: Sequence, known_titles: Sequence[str], *, batch_size: int = 8,
                     limit: int | None = None, on_batch: Callable[[int], None] | None = None) -> dict:
    """Faithfulness figures of ``explainer`` on rendered clips x hand-written feedback x
    catalog tracks, for the raw LM text and for what the guard shows."""
    from core.explainer.data import split_tracks

    _, held_out = split_tracks(list(tracks))
    pool = held_out if len(held_out) >= MIN_HELDOUT_TRACKS else list(tracks)
    messages = phrasings()
    with tempfile.TemporaryDirectory() as tmp:
        clips = [(spec.name, clip_facts(spec, Path(tmp))) for spec in CLIPS]
    turns = build_turns(pool, clips, messages)
    if limit:
        turns = turns[:limit]
    from core.explainer.model import SYSTEM_PROMPT

    guard = OutputGuard(known_titles, prompt_texts=[SYSTEM_PROMPT])  # as the explainer's own
    raw: list[str] = []
    for i in range(0, len(turns), batch_size):
        ctxs = [t.context for t in turns[i:i + batch_size]]
        raw += explainer.generate(ctxs)
        if on_batch:
            on_batch(len(ctxs))
    shown = [guard.apply(text, t.context.track, t.context.video, t.context.preference)
             for text, t in zip(raw, turns, strict=True)]
    raw_reports = [verify(text, t.context.track, t.context.video, t.context.preference, guard)
                   for text, t in zip(raw, turns, strict=True)]
    shown_reports = [verify(s.text, t.context.track, t.context.video, t.context.preference, guard)
                     for s, t in zip(shown, turns, strict=True)]
    unsupported = [{"clip": t.clip, "request": t.context.preference, "raw": text,
                    "unsupported": [c.text for c in r.unsupported], "against_request": [c.text for c in r.contradictions]}
                   for text, t, r in zip(raw, turns, raw_reports, strict=True) if r.unsupported or r.contradictions]
    return {
        "clips": {name: facts.statements() for name, facts in clips},
        "phrasings": len(messages), "explanations": len(turns), "tracks_in_pool": len(pool),
        "tracks_pool": "held-out split" if pool is held_out else "whole catalog",
        "shown": _figures(shown_reports),
        "raw": _figures(raw_reports),
        "fallback_rate": round(sum(s.fallback for s in shown) / max(1, len(shown)), 4),
        "raw_failures": unsupported[:20],
    }
