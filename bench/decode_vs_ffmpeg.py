"""Time ``core.media.decode_video`` against the ffmpeg CLI extracting the same frames.

A 60 s 1280x720 H.264 clip (ffmpeg's testsrc2, libx264 defaults unless --gop) is
sampled at 16 times, (i + 0.5) * 60 / 16 s, each frame scaled to a 224 short side and
center-cropped to 224x224 RGB, as decode_video returns them. ffmpeg gets its two
fastest fair invocations, both seeking with -ss before -i (keyframe seek, then an exact
decode to the time) and writing raw RGB to a pipe:

  one-process:  one ffmpeg with 16 "-ss T -i clip" inputs, each trimmed to one frame
                and concatenated into a single output;
  per-frame:    16 ffmpeg runs "-ss T -i clip -frames:v 1", one after another.

A select filter over every frame decodes the whole clip and is far slower, so it is left
out. Prints the median of --repeats interleaved runs after one warm-up, and
decode_video's time over the faster ffmpeg's (target: <= 1.0), in wall-clock and in CPU
seconds (the steadier figure on a shared machine). Both sides decode with their default
threading; --threads sets ffmpeg's.

    .venv/bin/python bench/decode_vs_ffmpeg.py [--gop N] [--threads N] [--keep DIR] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit_json  # noqa: E402
from core.config import Settings  # noqa: E402
from core.media import decode_video  # noqa: E402

SECONDS, WIDTH, HEIGHT, FPS, N = 60, 1280, 720, 30, 16
SIZE = 224
# Scale the short side to 224, keep the aspect (even width), crop the center square.
VF = (f"scale=w='if(gt(iw,ih),-2,{SIZE})':h='if(gt(iw,ih),{SIZE},-2)',"
      f"crop={SIZE}:{SIZE},format=rgb24")


def make_clip(path: Path, gop: int | None) -> None:
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
           "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}", "-t", str(SECONDS),
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    if gop:
        cmd += ["-g", str(gop)]
    subprocess.run(cmd + [str(path)], check=True)


def targets() -> list[float]:
    return [(i + 0.5) * SECONDS / N for i in range(N)]


def ffmpeg_one_process(clip: Path, threads: int | None) -> bytes:
    cmd = ["ffmpeg", "-v", "error", "-nostdin"]
    thread_opt = ["-threads", str(threads)] if threads else []
    for t in targets():
        cmd += thread_opt + ["-ss", f"{t:.3f}", "-i", str(clip)]
    chains = [f"[{i}:v]trim=end_frame=1,{VF}[v{i}]" for i in range(N)]
    graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(N)) + f"concat=n={N}:v=1[out]"
    # passthrough: concat's timestamps would otherwise make ffmpeg drop "duplicate" frames
    cmd += ["-filter_complex", graph, "-map", "[out]", "-fps_mode", "passthrough",
            "-f", "rawvideo", "-"]
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def ffmpeg_per_frame(clip: Path, threads: int | None) -> bytes:
    out = b""
    thread_opt = ["-threads", str(threads)] if threads else []
    for t in targets():
        cmd = ["ffmpeg", "-v", "error", "-nostdin", *thread_opt, "-ss", f"{t:.3f}",
               "-i", str(clip), "-frames:v", "1", "-vf", VF, "-f", "rawvideo", "-"]
        out += subprocess.run(cmd, check=True, capture_output=True).stdout
    return out


def ours(clip: Path) -> bytes:
    video = decode_video(clip, num_frames=N, settings=Settings())
    assert video.frames.shape == (N, SIZE, SIZE, 3), video.frames.shape
    return video.frames.tobytes()


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) plus its finished children (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def median_times(fns: dict, repeats: int) -> dict[str, tuple[float, float, bytes]]:
    """Median wall seconds, median CPU seconds and the output of each function. Runs are
    interleaved (one of each per round) so a change in machine load hits all alike."""
    outputs = {name: fn() for name, fn in fns.items()}  # warm-up: page cache, codec init
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), cpu_seconds()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(cpu_seconds() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name]), outputs[name])
            for name in fns}


def measure(repeats: int = 5, gop: int | None = None, threads: int | None = None, keep: Path | None = None,
            say=print, per_frame: bool = True) -> dict:
    """Median wall and CPU milliseconds of decode_video and the ffmpeg invocations (without
    ``per_frame``: the one-process one only), measured interleaved in one run, and
    decode_video's ratio to the faster ffmpeg."""
    workdir = keep or Path(tempfile.mkdtemp(prefix="musechat-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    clip = workdir / f"clip_{WIDTH}x{HEIGHT}_{SECONDS}s_gop{gop or 'default'}.mp4"
    if not clip.exists():
        say(f"writing {clip.name} ...")
        make_clip(clip, gop)
    try:
        fns = {"ours": lambda: ours(clip), "one": lambda: ffmpeg_one_process(clip, threads)}
        if per_frame:
            fns["per"] = lambda: ffmpeg_per_frame(clip, threads)
        results = median_times(fns, repeats)
        (t_ours, c_ours, frames_ours), (t_one, c_one, frames_one) = results["ours"], results["one"]
        t_per, c_per, frames_per = results.get("per", (float("inf"), float("inf"), None))
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)

    ours_px = np.frombuffer(frames_ours, dtype=np.uint8).astype(np.int16)
    pixel_diff = {}
    for name, data in (("one_process", frames_one), ("per_frame", frames_per)):
        if data is None:
            continue
        if len(data) != len(frames_ours):
            say(f"warning: ffmpeg {name} returned {len(data)} bytes, ours {len(frames_ours)}")
            continue
        # Not zero: ffmpeg's -ss takes the first frame at/after each time, decode_video the
        # one on screen then (<= 1 frame apart), and the scalers differ (bicubic/bilinear).
        pixel_diff[name] = round(float(np.abs(np.frombuffer(data, dtype=np.uint8).astype(np.int16) - ours_px).mean()), 1)
    best = min(t_one, t_per)
    best_cpu = c_one if t_one <= t_per else c_per
    return {"clip": f"{SECONDS} s {WIDTH}x{HEIGHT} H.264 {FPS} fps, gop {gop or 'libx264 default'}",
            "frames": N, "repeats": repeats, "ffmpeg_threads": threads,
            "decode_video_ms": round(t_ours * 1000, 1), "decode_video_cpu_ms": round(c_ours * 1000, 1),
            "ffmpeg_one_process_ms": round(t_one * 1000, 1), "ffmpeg_one_process_cpu_ms": round(c_one * 1000, 1),
            "ffmpeg_per_frame_ms": round(t_per * 1000, 1) if per_frame else None,
            "ffmpeg_per_frame_cpu_ms": round(c_per * 1000, 1) if per_frame else None,
            "ratio_wall": round(t_ours / best, 3), "ratio_cpu": round(c_ours / best_cpu, 3),
            "mean_abs_pixel_diff": pixel_diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gop", type=int, default=None,
                        help="keyframe interval in frames (default: libx264's, 250)")
    parser.add_argument("--threads", type=int, default=None,
                        help="ffmpeg decoder threads (default: ffmpeg's choice)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5; --quick: 1)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="directory to keep (and reuse) the generated clip in")
    parser.add_argument("--quick", action="store_true",
                        help="one timed round, against the one-process ffmpeg only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("the ffmpeg CLI is needed (Debian package ffmpeg)")
    repeats = args.repeats or (1 if args.quick else 5)
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    r = measure(repeats, args.gop, args.threads, args.keep, say, per_frame=not args.quick)
    if args.json:
        emit_json(r)
        return
    for name, diff in r["mean_abs_pixel_diff"].items():
        print(f"mean |pixel difference| vs ffmpeg {name.replace('_', ' ')}: {diff:.1f} / 255")
    print(f"clip: {r['clip']}, ffmpeg threads {args.threads or 'default'}; {N} frames -> {SIZE}x{SIZE} RGB; "
          f"median of {repeats}")
    print(f"{'':22}{'wall ms':>10}{'CPU ms':>10}")
    print(f"{'decode_video':22}{r['decode_video_ms']:10.0f}{r['decode_video_cpu_ms']:10.0f}")
    print(f"{'ffmpeg one process':22}{r['ffmpeg_one_process_ms']:10.0f}{r['ffmpeg_one_process_cpu_ms']:10.0f}")
    if r["ffmpeg_per_frame_ms"] is not None:
        print(f"{'ffmpeg 16 processes':22}{r['ffmpeg_per_frame_ms']:10.0f}{r['ffmpeg_per_frame_cpu_ms']:10.0f}")
    print(f"ratio decode_video / fastest ffmpeg: {r['ratio_wall']:.2f}x wall, {r['ratio_cpu']:.2f}x CPU")


if __name__ == "__main__":
    main()
