"""`musechat catalog add`: real audio files in, tracks with tags, tempo and features out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.slow
SR = 22050


def musechat(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUSECHAT_TORCH_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", "from core.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=600, env=env)


def click_track(bpm: float, seconds: float) -> np.ndarray:
    y = np.zeros(int(seconds * SR), np.float32)
    period = int(SR * 60 / bpm)
    click = (np.sin(2 * np.pi * 1000 * np.arange(400) / SR) * np.hanning(400)).astype(np.float32)
    for start in range(0, len(y) - 400, period):
        y[start:start + 400] += click
    return 0.8 * y


@pytest.fixture
def music_dir(tmp_path) -> Path:
    d = tmp_path / "music"
    (d / "sub").mkdir(parents=True)
    t = np.arange(int(12 * SR)) / SR
    sf.write(d / "click120.wav", click_track(120, 20), SR)
    sf.write(d / "tone.flac", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR)
    sf.write(d / "sub" / "noise.ogg", np.random.default_rng(0).uniform(-0.3, 0.3, len(t)).astype(np.float32), SR)
    (d / "sub" / "noise.ogg.json").write_text(json.dumps({"title": "White Noise", "artist": "The Generator",
                                                          "licence": "CC0-1.0"}))
    (d / "broken.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + os.urandom(3000))
    return d


def test_add_list_show_and_skip_unchanged(music_dir):
    first = musechat("catalog", "add", str(music_dir), "--source", "test", "--licence", "CC-BY-4.0")
    assert first.returncode == 0, first.stderr
    assert "added 3" in first.stderr and "failed 1" in first.stderr and "broken.mp3" in first.stderr

    listed = [json.loads(line) for line in musechat("catalog", "list", "--json").stdout.splitlines()]
    by_title = {t["title"]: t for t in listed}
    assert set(by_title) == {"Click120", "Tone", "White Noise"}
    assert by_title["White Noise"]["artist"] == "The Generator"
    assert by_title["White Noise"]["licence"] == "CC0-1.0"  # the sidecar wins
    assert by_title["Tone"]["licence"] == "CC-BY-4.0"
    assert abs(by_title["Click120"]["tempo_bpm"] - 120) < 3
    assert abs(by_title["Tone"]["duration_s"] - 12) < 0.1
    for t in listed:
        assert t["tags"] and t["vocal_prob"] is not None

    shown = json.loads(musechat("catalog", "show", str(by_title["Tone"]["id"])).stdout)
    assert set(shown["all_tags"]) == {"mtt", "msd"} and len(shown["all_tags"]["mtt"]) == 50

    again = musechat("catalog", "add", str(music_dir))
    assert again.returncode == 0 and "added 0, unchanged 3" in again.stderr


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = musechat("catalog", "add", str(tmp_path / "empty"))
    assert result.returncode == 1 and "no audio files" in result.stderr
