"""Turn latency and worker throughput of the conversation path, on this machine.

Runs against the configured installation (MUSECHAT_DATA_DIR, its database and catalog;
build one with `musechat catalog demo`) and measures, after the models are loaded:

1. Turn 1 for a 30 s 1280x720 H.264 clip (generated here), by stage: decode
   (``core.media.decode_video``), encode (the frame encoder on those frames), search
   (``Engine.recommend``) and explain (``Engine.explain``); then the same turn through the
   conversation service in-process: seconds from the job's start to picks stored, and to
   explanations stored (targets: picks <= 3 s after the video is stored, explanations
   <= 3 s after that).
2. Turn 2 (a feedback turn: cached video features, no decoding): seconds to picks and
   to explanations (target: picks <= 0.5 s).
3. Throughput of one CPU worker: starts a throwaway Redis and one `musechat worker --pool
   solo` process, sends --conversations first turns (distinct 10 s 640x360 clips) and one
   feedback turn each, and reports turns per minute.

Median of --repeats runs after a warm-up run; the worker's peak resident memory after
serving its turns. ``--quick``: one run, no throughput. Conversations made here are deleted at the end (forget-me for
the user "bench").

    .venv/bin/python bench/turn_latency.py [--repeats 5] [--conversations 6] [--no-throughput] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit_json, rss_mib  # noqa: E402
from core.config import get_settings  # noqa: E402
from core.conversation.service import ConversationService  # noqa: E402
from core.media import decode_video  # noqa: E402

USER = "bench"


def write_clip(path: Path, seconds: float, width: int, height: int, fps: int = 30, seed: int = 0) -> Path:
    """A moving test picture (a scrolling colour pattern and a bouncing box), H.264 + AAC."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, 3)
    y, x = np.mgrid[0:height, 0:width]
    pattern = np.empty((height, width, 3), np.uint8)
    for c in range(3):
        pattern[..., c] = (base[c] + 60 * np.sin(x / 90 * (c + 1)) + 60 * np.cos(y / 70)) % 256
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        n = int(seconds * fps)
        for i in range(n):
            t = i / fps
            img = np.roll(pattern, 4 * i, axis=1)
            bx = int((np.sin(t) * 0.4 + 0.5) * (width - 100))
            img[height // 3: height // 3 + 100, bx:bx + 100] = 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
            start, count = i * 48000 // fps, (i + 1) * 48000 // fps - i * 48000 // fps
            tone = (0.2 * np.sin(2 * np.pi * 330 * (start + np.arange(count)) / 48000)).astype(np.float32)
            af = av.AudioFrame.from_ndarray(tone[None], format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = 48000, start, Fraction(1, 48000)
            out.mux(audio.encode(af))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


def med(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def stage_breakdown(service: ConversationService, clip: Path, repeats: int) -> dict:
    """Turn 1 stage by stage, in seconds (median of ``repeats`` after one warm-up run)."""
    from core.engine import TrackFilter, VideoAnalysis
    from core.retriever.video import base_frames
    from core.video_facts import BURST_FRAMES, BURST_STEP_S, measure

    engine = service.engine
    settings = service.settings
    stages: dict[str, list[float]] = {"decode": [], "encode": [], "search": [], "explain": []}
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        video = decode_video(clip, num_frames=settings.num_frames, settings=settings, burst=BURST_FRAMES,
                             burst_step_s=BURST_STEP_S)
        t1 = time.perf_counter()
        base = base_frames(video.timestamps, video.duration_s, settings.num_frames)
        feats, labels = engine.encoders.frames.encode_with_content(video.frames[base])
        facts = measure(video.frames, video.timestamps, labels)
        t2 = time.perf_counter()
        analysis = VideoAnalysis("bench", video.duration_s, feats, [c.name for c in labels],
                                 engine.encoders.frames.name, facts)
        picks = engine.recommend(analysis, preference=None, previous_track_id=None, filters=TrackFilter(),
                                 exclude=(), k=settings.top_k)
        t3 = time.perf_counter()
        engine.explain(analysis, picks, None)
        t4 = time.perf_counter()
        if i == 0:
            continue  # warm-up: first calls allocate caches
        for name, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[name].append(value)
    out = {f"{name}_s": med(values) for name, values in stages.items()}
    out["picks_s"] = round(sum(out[f"{k}_s"] for k in ("decode", "encode", "search")), 3)
    return out


def service_turns(service: ConversationService, clip: Path, repeats: int) -> dict:
    """Turns 1 and 2 through the conversation service in-process: seconds from the job's
    start to picks stored and to explanations stored (medians)."""
    first_picks, first_expl, second_picks, second_expl = [], [], [], []
    for i in range(repeats):
        # A fresh upload each time, so turn 1 really decodes: drop the cached features.
        data = clip.read_bytes() + b"\0" * (i + 1)  # trailing bytes change the hash, not the video
        h = service.start(data, platform="bench", user_id=USER, filename="bench.mp4")
        v1 = service.get_turn(h.turn_id)
        assert v1.status == "done", v1.error
        first_picks.append(v1.timings["to_picks"])
        first_expl.append(v1.timings["to_explanations"])
        v2 = service.get_turn(service.reply(h.conversation_id, "calmer, no vocals").turn_id)
        assert v2.status == "done", v2.error
        assert "analyse" not in v2.timings
        second_picks.append(v2.timings["to_picks"])
        second_expl.append(v2.timings["to_explanations"])
    return {"turn1_picks_s": med(first_picks), "turn1_explanations_s": med(first_expl),
            "turn1_explain_after_picks_s": med([e - p for p, e in zip(first_picks, first_expl)]),
            "turn2_picks_s": med(second_picks), "turn2_explanations_s": med(second_expl)}


def throughput(service: ConversationService, conversations: int, workdir: Path) -> dict:
    """Turns per minute through one `musechat worker --pool solo` on a throwaway Redis, and
    that worker's peak resident memory (MiB) after serving them."""
    redis = shutil.which("redis-server")
    if not redis:
        return {"skipped": "no redis-server"}
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL)
    broker = f"redis://127.0.0.1:{port}/0"
    env = {**os.environ, "MUSECHAT_BROKER_URL": broker, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    worker = subprocess.Popen([str(Path(sys.executable).with_name("musechat")), "worker", "--pool", "solo",
                               "--loglevel", "WARNING"], env=env, start_new_session=True,
                              stdout=(workdir / "worker.log").open("wb"), stderr=subprocess.STDOUT)
    try:
        clips = [write_clip(workdir / f"c{i}.mp4", 10, 640, 360, seed=100 + i) for i in range(conversations)]
        settings = service.settings.model_copy(update={"broker_url": broker})
        queued = ConversationService(settings)
        # Warm the worker up with one turn so model loading is not counted.
        warm = queued.start(write_clip(workdir / "warm.mp4", 2, 320, 180, seed=99), platform="bench", user_id=USER)
        assert queued.wait(warm.turn_id, timeout=600).status == "done"
        t0 = time.perf_counter()
        firsts = [queued.start(c, platform="bench", user_id=USER) for c in clips]
        seconds = [queued.reply(h.conversation_id, "faster, more drums") for h in firsts]
        views = [queued.wait(h.turn_id, timeout=1200) for h in firsts + seconds]
        elapsed = time.perf_counter() - t0
        assert all(v.status == "done" for v in views), [v.error for v in views]
        rss, peak = rss_mib(worker.pid)  # the solo pool: the worker is this one process
        n = len(views)
        return {"turns": n, "seconds": round(elapsed, 1), "turns_per_min": round(n / elapsed * 60, 1),
                "worker_rss_mib": rss, "worker_peak_rss_mib": peak}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        server.terminate()
        server.wait(10)


def measure(repeats: int = 5, conversations: int = 6, with_throughput: bool = True, say=print) -> dict:
    from core.db import migrate

    settings = get_settings()
    state = migrate.schema_state(settings.sqlalchemy_url)
    if not state.up_to_date:  # the benchmark reads the installation as it is: never migrates it
        raise SystemExit(f"the database schema is not up to date ({state.error or state.current}): "
                         "run `musechat db upgrade` first")
    # In-process jobs for the latency part, whatever broker is configured.
    service = ConversationService(settings.model_copy(update={"broker_url": None}))
    t0 = time.perf_counter()
    service.warm_up()
    out = {"profile": settings.profile, "device": str(settings.torch_device()),
           "torch_threads": settings.torch_threads, "num_frames": settings.num_frames, "top_k": settings.top_k,
           "repeats": repeats, "models_load_s": round(time.perf_counter() - t0, 1)}
    say(f"models loaded in {out['models_load_s']:.1f} s (profile {settings.profile}, "
        f"device {settings.torch_device()}, torch threads {settings.torch_threads or 'default'})")
    workdir = Path(tempfile.mkdtemp(prefix="musechat-bench-"))
    try:
        clip = write_clip(workdir / "clip_720p.mp4", 30, 1280, 720)
        out["stages"] = stage_breakdown(service, clip, repeats)
        say("turn 1 by stage done")
        out["service"] = service_turns(service, clip, repeats)
        say("turns through the conversation service done")
        if with_throughput:
            out["worker"] = throughput(service, conversations, workdir)
            say("worker throughput done")
    finally:
        report = service.forget_user("bench", USER, actor="bench")
        say(f"cleaned up {report.conversations} bench conversations")
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed runs after a warm-up (default 5; --quick: 1)")
    parser.add_argument("--conversations", type=int, default=None, help="conversations for throughput (default 6)")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--quick", action="store_true", help="one timed run, no worker throughput")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    repeats = args.repeats or (1 if args.quick else 5)
    r = measure(repeats, args.conversations or 6, not (args.no_throughput or args.quick), say)
    if args.json:
        emit_json(r)
        return
    st, sv = r["stages"], r["service"]
    print(f"turn 1 by stage (30 s 1280x720 clip, {r['num_frames']} frames, top {r['top_k']}), median of {repeats}:")
    for name in ("decode", "encode", "search", "explain"):
        print(f"  {name:8s} {st[name + '_s']:7.3f} s")
    print(f"  = picks  {st['picks_s']:7.3f} s (target <= 2 s), explanations +{st['explain_s']:.3f} s (target <= 3 s)")
    print(f"through the conversation service (in-process), median of {repeats}:")
    print(f"  turn 1: picks {sv['turn1_picks_s']:.3f} s, explanations {sv['turn1_explanations_s']:.3f} s")
    print(f"  turn 2: picks {sv['turn2_picks_s']:.3f} s (target <= 0.5 s), explanations {sv['turn2_explanations_s']:.3f} s")
    w = r.get("worker")
    if w and "skipped" in w:
        print(f"throughput: skipped ({w['skipped']})")
    elif w:
        print(f"one CPU worker (solo pool): {w['turns']} turns ({w['turns'] // 2} first turns on 10 s 640x360 clips + "
              f"{w['turns'] // 2} feedback turns) in {w['seconds']:.1f} s = {w['turns_per_min']:.1f} turns/min; "
              f"worker peak RSS {w['worker_peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
