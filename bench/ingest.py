"""Catalog ingestion speed: audio seconds analysed per wall-clock second.

Writes music-like Ogg Vorbis files (44.1 kHz stereo, chords over a drum pattern at a
different tempo each; --seconds long, by default the demo catalog's mean track length)
and ingests them one at a time with ``core.catalog.ingest.ingest`` — decode, musicnn tags
and embeddings, tempo, vocals, SQL row and feature file — into a throwaway catalog, after
one warm-up file (model load and first-call caches are not counted). Reports the median
speed over the files (target: >= 30x real time on the 2-core development machine).
Files are cached in --cache so reruns skip writing them.

    .venv/bin/python bench/ingest.py [--files 6] [--seconds 270] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import os
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

RATE = 44100
TARGET = 30.0


def synth(seconds: float, bpm: float, seed: int) -> np.ndarray:
    """[samples, 2] float32: a four-chord pad, a bass line, kick and hi-hat at ``bpm``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    beat = 60.0 / bpm
    bar = (t // (4 * beat)).astype(int) % 4
    roots = np.array([220.0, 174.6, 261.6, 196.0]) * rng.choice([0.5, 1.0])
    root = roots[bar]
    phase = 2 * np.pi * np.cumsum(root) / RATE
    pad = sum(np.sin(phase * r) for r in (1.0, 1.26, 1.5)) / 3
    bass = np.sign(np.sin(phase / 2)) * 0.3
    pos = t % beat
    kick = np.exp(-pos * 30) * np.sin(2 * np.pi * 60 * pos)
    hat_pos = t % (beat / 2)
    hat = np.exp(-hat_pos * 200) * rng.standard_normal(n) * 0.3
    mono = 0.4 * pad + 0.3 * bass + 0.5 * kick + hat
    mono /= np.abs(mono).max()
    return np.stack([mono, np.roll(mono, 300)], axis=1).astype(np.float32) * 0.8


def write_ogg(path: Path, seconds: float, bpm: float, seed: int) -> Path:
    if not path.exists():
        tmp = path.with_suffix(".part.ogg")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "2", "-i", "-",
                        "-c:a", "libvorbis", "-q:a", "4", str(tmp)],
                       input=synth(seconds, bpm, seed).tobytes(), check=True)
        tmp.rename(path)
    return path


def measure(files: int = 6, seconds: float = 270.0, cache: Path | None = None, say=print) -> dict:
    """Per-file speeds (audio s / wall s) and their median, over ``files`` files of
    ``seconds`` each, ingested one at a time after a warm-up file."""
    cache = cache or Path(tempfile.gettempdir()) / "musechat-bench-cache" / "ingest"
    cache.mkdir(parents=True, exist_ok=True)
    paths = [write_ogg(cache / f"track{i}_{int(seconds)}s.ogg", seconds, 80 + 15 * i, seed=i)
             for i in range(files + 1)]
    data = Path(tempfile.mkdtemp(prefix="musechat-ingest-bench-"))
    for key in [k for k in os.environ if k.startswith("MUSECHAT_") and k not in ("MUSECHAT_TORCH_THREADS",
                                                                                 "MUSECHAT_PROFILE")]:
        del os.environ[key]
    os.environ["MUSECHAT_DATA_DIR"] = str(data)
    try:
        from core.catalog.ingest import info_from_file, ingest
        from core.catalog.service import load_music_encoder, prepare_database
        from core.config import get_settings

        settings = get_settings()
        prepare_database()
        t0 = time.perf_counter()
        encoder = load_music_encoder(settings)
        load_s = time.perf_counter() - t0
        speeds, walls, audio = [], [], []
        for i, path in enumerate(paths):
            report = ingest([info_from_file(path, source="bench", licence="CC0-1.0")], encoder, settings)
            if report.failed:
                raise RuntimeError(f"{path.name}: {report.failed[0][1]}")
            if i == 0:
                continue  # warm-up
            speeds.append(report.speed)
            walls.append(report.wall_seconds)
            audio.append(report.audio_seconds)
            say(f"{path.name}: {report.audio_seconds:.0f} s of audio in {report.wall_seconds:.2f} s "
                f"({report.speed:.1f}x)")
    finally:
        from core.db.session import dispose_all

        dispose_all()
        shutil.rmtree(data, ignore_errors=True)
    return {"profile": settings.profile, "encoder": encoder.name, "files": files, "track_seconds": seconds,
            "encoder_load_s": round(load_s, 1), "speed_median": round(statistics.median(speeds), 1),
            "speed_min": round(min(speeds), 1), "speed_max": round(max(speeds), 1),
            "speed_total": round(sum(audio) / sum(walls), 1), "wall_median_s": round(statistics.median(walls), 2),
            "target": TARGET}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=None, help="timed files (default 6; --quick: 2)")
    parser.add_argument("--seconds", type=float, default=270.0, help="length of each file")
    parser.add_argument("--cache", type=Path, default=None, help="folder for the generated files")
    parser.add_argument("--quick", action="store_true", help="2 timed files")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("the ffmpeg CLI is needed (Debian package ffmpeg)")
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    r = measure(args.files or (2 if args.quick else 6), args.seconds, args.cache, say)
    if args.json:
        emit_json(r)
        return
    print(f"{r['files']} files of {r['track_seconds']:.0f} s ({r['encoder']}): median {r['speed_median']:.1f}x "
          f"real time (min {r['speed_min']:.1f}x, max {r['speed_max']:.1f}x; target >= {TARGET:.0f}x)")


if __name__ == "__main__":
    main()
