"""`--preview`: the user's video with a pick laid under it."""

from __future__ import annotations

import av
import numpy as np
import pytest

from core.conversation.preview import SAMPLE_RATE, preview_name, write_preview
from tests.media import write_tone, write_video


def _read(path):
    with av.open(str(path)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        v, a = c.streams.video[0], c.streams.audio[0]
        info = (v.codec_context.name, a.codec_context.name, a.rate, a.channels)
        frames = sum(1 for _ in c.decode(v))
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray()[0] for f in c.decode(c.streams.audio[0])])
    return info, frames, audio


@pytest.mark.parametrize("suffix, codec, copied", [(".mp4", "libx264", "h264"), (".gif", "gif", "h264"),
                                                    (".webm", "libvpx-vp9", "vp9")])
def test_preview_has_the_picture_and_the_faded_track(tmp_path, suffix, codec, copied):
    video = write_video(tmp_path / f"clip{suffix}", codec=codec, seconds=3.0, fps=10, audio_codec=None)
    track = write_tone(tmp_path / "track.ogg", "libopus", rate=48000, seconds=20.0)  # longer than the video
    out = write_preview(video, track, tmp_path / "out" / preview_name(1, "Battle Music!", 0), fade_s=0.5)

    assert out.name == "turn1-pick1-battle-music.mp4"
    (vcodec, acodec, rate, channels), frames, audio = _read(out)
    assert (vcodec, acodec, rate, channels) == (copied if codec != "gif" else "h264", "aac", SAMPLE_RATE, 2)
    assert frames == 30
    assert audio.size == pytest.approx(3.0 * SAMPLE_RATE, rel=0.02)  # trimmed to the video
    level = lambda seg: float(np.sqrt(np.mean(seg ** 2)))  # noqa: E731
    start, middle = audio[1024:2048 + 1024], audio[len(audio) // 2: len(audio) // 2 + 4800]
    end = audio[-4000:-2000]
    assert level(middle) == pytest.approx(0.5 / np.sqrt(2), rel=0.15)  # the tone itself
    assert level(start) < 0.1 * level(middle) and level(end) < 0.3 * level(middle)  # faded


def test_short_track_is_followed_by_silence(tmp_path):
    video = write_video(tmp_path / "clip.mp4", seconds=4.0)
    track = write_tone(tmp_path / "jingle.wav", "pcm_s16le", seconds=1.0)
    _, _, audio = _read(write_preview(video, track, tmp_path / "p.mp4", fade_s=0.1))
    assert audio.size == pytest.approx(4.0 * SAMPLE_RATE, rel=0.02)
    assert np.abs(audio[int(2.0 * SAMPLE_RATE):]).max() < 0.01
