"""Real media the conversation tests generate: a small catalog of synthesised music and
short videos, written once per test session.

The tracks differ in what a listener would notice — tempo (click tracks at 70-170 bpm),
texture (noise, pads, drones, arpeggios), brightness and length (8-15 s: the music encoder's cost grows with length) — so filters
and refinements have something to choose between.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np

from tests.media import write_video

RATE = 16000


def _clicks(bpm: float, seconds: float, rng) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    beat = 60.0 / bpm
    for start in np.arange(0, seconds, beat):
        i = int(start * RATE)
        n = min(int(0.08 * RATE), len(t) - i)
        env = np.exp(-np.arange(n) / (0.015 * RATE))
        out[i:i + n] += env * np.sin(2 * np.pi * 90 * np.arange(n) / RATE)
        out[i:i + n] += 0.3 * env * rng.standard_normal(n)
    return out


def _tones(freqs, seconds: float, vibrato: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(np.sin(2 * np.pi * f * t + vibrato * np.sin(2 * np.pi * 5.5 * t)) for f in freqs) / len(freqs)


def _arpeggio(bpm: float, seconds: float, notes) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    step = 60.0 / bpm / 2
    idx = (t // step).astype(int) % len(notes)
    freq = np.asarray(notes)[idx]
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    return np.sin(phase) * (0.6 + 0.4 * np.exp(-(t % step) * 8))


def catalog_tracks() -> list[tuple[str, dict, np.ndarray]]:
    """(file stem, sidecar metadata, float samples at RATE) for each track."""
    rng = np.random.default_rng(7)
    tracks = []
    for bpm, secs in ((70, 12), (95, 15), (120, 11), (145, 9), (170, 14)):
        beat = _clicks(bpm, secs, rng) + 0.3 * _arpeggio(bpm, secs, [220, 277, 330, 440])
        tracks.append((f"drums_{bpm}", {"title": f"Drum Machine {bpm}", "artist": "Test Band"}, beat))
    tracks += [
        ("pad", {"title": "Soft Pad", "artist": "Ambient Tester"}, _tones([220, 277, 330], 13)),
        ("noise", {"title": "Static Storm", "artist": "Noise Unit"}, rng.standard_normal(int(9 * RATE)) * 0.5),
        ("drone", {"title": "Low Drone", "artist": "Ambient Tester"}, _tones([55, 82.5], 8)),
        ("bells", {"title": "Bright Bells", "artist": "Chime Choir"}, _arpeggio(100, 12, [880, 1175, 1319, 1760])),
        ("voice", {"title": "Humming Voice", "artist": "Vox"}, _tones([200, 400, 600, 800], 9.5, vibrato=3.0)),
    ]
    return tracks


def length_catalog_tracks() -> list[tuple[str, dict, np.ndarray]]:
    """Tracks of very different lengths (5-50 s) for the "longer"/"shorter" tests: a few
    short, most of a middle length, a few much longer; textures vary as in catalog_tracks."""
    rng = np.random.default_rng(11)
    tracks = []
    for i, secs in enumerate((5, 6, 7, 20, 21, 22, 23, 24, 25, 45, 48, 50, 52)):
        bpm = 70 + 11 * i
        kind = i % 3
        if kind == 0:
            samples = _clicks(bpm, secs, rng) + 0.3 * _arpeggio(bpm, secs, [220, 277, 330, 440])
        elif kind == 1:
            samples = _tones([110 + 20 * i, 165 + 25 * i], secs, vibrato=0.5 * i)
        else:
            samples = _arpeggio(bpm, secs, [440 + 30 * i, 554, 659, 880])
        tracks.append((f"len_{secs:02d}", {"title": f"Length {secs}", "artist": f"Tester {i % 4}"}, samples))
    return tracks


def write_catalog(folder: Path, tracks: list[tuple[str, dict, np.ndarray]] | None = None) -> Path:
    """Write the catalog's WAV files (16-bit mono) with ``<file>.json`` sidecars into ``folder``
    (``tracks`` as catalog_tracks() returns them; default: catalog_tracks())."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, meta, samples in tracks if tracks is not None else catalog_tracks():
        pcm = (np.clip(samples / max(1e-9, np.abs(samples).max()) * 0.8, -1, 1) * 32767).astype(np.int16)
        path = folder / f"{stem}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm.tobytes())
        (folder / f"{stem}.wav.json").write_text(json.dumps({**meta, "licence": "CC0-1.0"}))
    return folder


def write_clip(path: Path, seconds: float = 2.0, **kw) -> Path:
    """A tiny real video (grey ramp, 64x48, 10 fps, H.264 + AAC)."""
    return write_video(path, seconds=seconds, audio_codec=kw.pop("audio_codec", "aac"), **kw)
