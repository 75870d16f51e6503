"""decode_video on real files written by the test: every supported format, long and huge
videos, the limits, and every kind of bad upload a user can send."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from core import media
from core.config import reset_settings
from core.errors import (
    CorruptMedia,
    DecodeTimeout,
    FileTooLarge,
    FrameTooLarge,
    NoVideoStream,
    UnsupportedMedia,
    UserError,
    VideoTooLong,
    ZeroFrames,
)
from core.media import DecodedVideo, decode_video
from tests.media import ramp_level, tone_frame, write_tone, write_video

pytestmark = pytest.mark.timeout(60)

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg CLI")


def set_env(monkeypatch, **values) -> None:
    for key, value in values.items():
        monkeypatch.setenv(f"MUSECHAT_{key.upper()}", str(value))
    reset_settings()


def assert_even_sample(video: DecodedVideo, n: int, *, grey_tolerance: int = 4) -> None:
    """n distinct frames, each the one on screen at the middle of its segment."""
    assert video.frames.dtype == np.uint8
    assert video.frames.shape == (n, 224, 224, 3)
    assert len(video.timestamps) == n
    assert all(a < b for a, b in zip(video.timestamps, video.timestamps[1:]))
    frame_s = 1 / video.fps
    for i, (t, frame) in enumerate(zip(video.timestamps, video.frames)):
        target = (i + 0.5) * video.duration_s / n
        assert t <= target + 1e-6 < t + frame_s + 1e-6, (i, t, target)
        # The grey level says where in the video the pixels came from.
        assert abs(float(frame.mean()) - ramp_level(t, video.duration_s)) <= grey_tolerance, (i, t)


# --- good files ----------------------------------------------------------------------

FORMATS = [
    pytest.param(".mp4", "libx264", "aac", id="mp4-h264-aac"),
    pytest.param(".webm", "libvpx-vp9", "libopus", id="webm-vp9-opus"),
    pytest.param(".mov", "libx264", "aac", id="mov-h264-aac"),
    pytest.param(".mkv", "libx264", "flac", id="mkv-h264-flac"),
    pytest.param(".mkv", "mpeg4", None, id="mkv-mpeg4-silent"),
]


@pytest.mark.parametrize(("suffix", "codec", "audio_codec"), FORMATS)
def test_each_format_gives_12_evenly_spaced_frames(tmp_path, suffix, codec, audio_codec):
    path = write_video(tmp_path / f"clip{suffix}", codec=codec, audio_codec=audio_codec,
                       width=64, height=48, fps=10, seconds=2.0)

    video = decode_video(path)

    assert_even_sample(video, 12)
    assert video.duration_s == pytest.approx(2.0, abs=0.05)
    assert video.fps == pytest.approx(10.0)
    assert (video.width, video.height) == (64, 48)
    assert video.has_audio is (audio_codec is not None)
    assert video.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_animated_gif(tmp_path):
    path = write_video(tmp_path / "clip.gif", codec="gif", fps=10, seconds=2.0)

    video = decode_video(path, num_frames=8)

    assert_even_sample(video, 8, grey_tolerance=8)  # GIF's 8-bit palette rounds greys
    assert video.duration_s == pytest.approx(2.0, abs=0.05)
    assert video.has_audio is False


def test_webm_without_a_stated_duration_is_measured(tmp_path):
    # A live-recorded WebM (MediaRecorder, OBS) states no duration in its header.
    path = tmp_path / "live.webm"
    with av.open(str(path), "w", options={"live": "1"}) as out:
        stream = out.add_stream("libvpx-vp9", rate=10,
                                options={"deadline": "realtime", "cpu-used": "8"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            grey = np.full((48, 64, 3), ramp_level(i / 10, 3.0), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(grey, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(path)) as probe:
        assert probe.duration is None  # the case under test

    video = decode_video(path)

    assert video.duration_s == pytest.approx(3.0, abs=0.11)
    assert_even_sample(video, 12)


def test_fewer_frames_than_asked_gives_each_once(tmp_path):
    path = write_video(tmp_path / "two.mp4", fps=1, seconds=2.0)

    video = decode_video(path)

    assert video.frames.shape[0] == 2
    assert video.timestamps == [0.0, 1.0]


@pytest.mark.timeout(60)
def test_ten_minute_video_is_sampled_by_seeking(tmp_path):
    # 600 frames, a keyframe every 10 s: seeking decodes a few per target, not all 600.
    path = write_video(tmp_path / "long.mp4", width=32, height=32, fps=1, seconds=600.0, gop=10)

    video = decode_video(path)

    assert video.duration_s == pytest.approx(600.0)
    assert_even_sample(video, 12)
    assert video.timestamps == [25.0 + 50.0 * i for i in range(12)]
    assert video.frames_decoded <= 12 * 11, video.frames_decoded


@pytest.mark.timeout(120)
def test_8k_video_decodes_to_224_within_default_limits(tmp_path):
    path = write_video(tmp_path / "8k.mp4", width=7680, height=4320, fps=1, seconds=2.0)
    assert path.stat().st_size < 1_000_000

    video = decode_video(path)

    assert (video.width, video.height) == (7680, 4320)
    assert video.frames.shape == (2, 224, 224, 3)
    assert video.timestamps == [0.0, 1.0]


def test_wide_frames_are_center_cropped(tmp_path):
    # 96x32: left third dark, middle bright, right third dark. The crop keeps the middle.
    path = tmp_path / "wide.mkv"
    img = np.zeros((32, 96, 3), dtype=np.uint8)
    img[:, 32:64] = 255
    _write_frames(path, [img, img])

    frame = decode_video(path).frames[0]

    assert frame.shape == (224, 224, 3)
    assert frame[:, 20:204].min() > 200  # the bright middle fills the square
    assert frame[:, :8].max() > 200 and frame[:, -8:].max() > 200


@needs_ffmpeg
def test_rotation_metadata_is_applied_like_ffmpeg(tmp_path):
    # Phone videos are stored sideways with a rotation tag; upright frames matter to CLIP.
    img = np.zeros((48, 64, 3), dtype=np.uint8)
    img[24:] = 255  # bottom half bright
    plain = _write_frames(tmp_path / "plain.mp4", [img, img])
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(plain), "-c", "copy",
                    "-metadata:s:v", "rotate=90", str(rotated)], check=True)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(rotated), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         check=True, capture_output=True).stdout
    reference = np.frombuffer(raw, dtype=np.uint8).reshape(64, 48)  # ffmpeg autorotates
    bright_right = reference[:, 24:].mean() > reference[:, :24].mean()

    frame = decode_video(rotated).frames[0].mean(axis=2)

    assert (frame[:, 112:].mean() > frame[:, :112].mean()) == bright_right
    assert abs(frame[:, 112:].mean() - frame[:, :112].mean()) > 150  # a side, not top/bottom


# --- inputs and hashes --------------------------------------------------------------


def test_bytes_input_matches_path_input(tmp_path):
    path = write_video(tmp_path / "clip.webm", codec="libvpx-vp9", audio_codec="libopus")
    data = path.read_bytes()

    from_path = decode_video(path)
    from_bytes = decode_video(data)

    assert from_bytes.timestamps == from_path.timestamps
    np.testing.assert_array_equal(from_bytes.frames, from_path.frames)
    assert from_bytes.content_hash == from_path.content_hash == hashlib.sha256(data).hexdigest()
    assert from_bytes.has_audio


def test_content_hash_is_stable_and_tells_files_apart(tmp_path):
    a = write_video(tmp_path / "a.mp4", seconds=1.0)
    b = write_video(tmp_path / "b.mp4", seconds=1.5)

    assert decode_video(a).content_hash == decode_video(a).content_hash == media.content_hash(a)
    assert decode_video(a).content_hash != decode_video(b).content_hash


def test_num_frames_and_size_are_honoured(tmp_path):
    path = write_video(tmp_path / "clip.mp4", seconds=3.0)

    video = decode_video(path, num_frames=5, size=64)

    assert video.frames.shape == (5, 64, 64, 3)


# --- limits ---------------------------------------------------------------------------


def test_video_over_the_length_limit_is_refused_saying_the_limit(tmp_path, monkeypatch):
    set_env(monkeypatch, max_video_seconds=60)
    path = write_video(tmp_path / "two_minutes.mp4", width=32, height=32, fps=1, seconds=120.0)

    with pytest.raises(VideoTooLong) as info:
        decode_video(path)

    assert "1 minute" in info.value.user_message


def test_default_length_limit_message_says_30_minutes():
    assert "30 minutes" in VideoTooLong(limit_s=1800).user_message


def test_measured_duration_is_also_held_to_the_limit(tmp_path, monkeypatch):
    set_env(monkeypatch, max_video_seconds=2)
    path = tmp_path / "live.webm"
    with av.open(str(path), "w", options={"live": "1"}) as out:
        stream = out.add_stream("libvpx-vp9", rate=1,
                                options={"deadline": "realtime", "cpu-used": "8"})
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 1)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))

    with pytest.raises(VideoTooLong):
        decode_video(path)


def test_frame_over_the_pixel_limit_is_refused(tmp_path, monkeypatch):
    set_env(monkeypatch, max_frame_pixels=64 * 48 - 1)
    path = write_video(tmp_path / "clip.mp4", width=64, height=48)

    with pytest.raises(FrameTooLarge) as info:
        decode_video(path)

    assert "64x48" in info.value.user_message


def test_file_over_the_upload_limit_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    set_env(monkeypatch, max_upload_mb=0.01)  # 10 KiB
    junk = np.random.default_rng(0).bytes(20_000)  # would be UnsupportedMedia if opened
    path = tmp_path / "big.mp4"
    path.write_bytes(junk)

    with pytest.raises(FileTooLarge) as info:
        decode_video(path)
    with pytest.raises(FileTooLarge):
        decode_video(junk)

    assert "0.01 MB" in info.value.user_message


def test_decode_time_limit_is_checked_while_decoding(tmp_path, monkeypatch):
    set_env(monkeypatch, decode_timeout_s=30)
    path = write_video(tmp_path / "long.mp4", width=32, height=32, fps=1, seconds=600.0)
    clock = iter(range(0, 10_000))  # every look at the clock: one more second
    monkeypatch.setattr(media, "time", SimpleNamespace(monotonic=lambda: float(next(clock))))

    with pytest.raises(DecodeTimeout):
        decode_video(path)

    assert next(clock) < 100  # it stopped soon after the limit, mid-decode


# --- bad uploads ------------------------------------------------------------------------


def _png(path: Path) -> Path:
    from PIL import Image

    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(path)
    return path


def _cut_in_half(path: Path) -> Path:
    data = path.read_bytes()
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(data[: len(data) // 2])
    return cut


def _write_frames(path: Path, images: list[np.ndarray], fps: int = 1) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for i, img in enumerate(images):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _video_track_without_frames(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        for i in range(50):
            out.mux(audio.encode(tone_frame(i * 1024, 1024, 48000, audio)))
        out.mux(audio.encode(None))
    return path


def _mp3_with_cover_art(path: Path) -> Path:
    song = write_tone(path.with_name("song.mp3"), "libmp3lame")
    cover = _png(path.with_name("cover.png"))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(song), "-i", str(cover),
                    "-map", "0", "-map", "1", "-c", "copy", "-disposition:v", "attached_pic",
                    str(path)], check=True)
    return path


BAD_UPLOADS = [
    pytest.param(lambda d: (d / "notes.txt").write_text("just some text\n") and d / "notes.txt",
                 UnsupportedMedia, id="text"),
    pytest.param(lambda d: (d / "page.mp4").write_text(
        "<!DOCTYPE html><html><body>Sign in</body></html>") and d / "page.mp4",
        UnsupportedMedia, id="html-login-page"),
    pytest.param(lambda d: _png(d / "still.png"), UnsupportedMedia, id="png"),
    pytest.param(lambda d: (d / "noise.mp4").write_bytes(np.random.default_rng(1).bytes(30_000))
                 and d / "noise.mp4", UnsupportedMedia, id="random-bytes"),
    pytest.param(lambda d: (d / "empty.mp4").write_bytes(b"") == 0 and d / "empty.mp4",
                 UnsupportedMedia, id="zero-bytes"),
    pytest.param(lambda d: write_video(d / "still.gif", codec="gif", fps=1, seconds=1.0),
                 UnsupportedMedia, id="single-frame-gif"),
    pytest.param(lambda d: _cut_in_half(write_video(d / "clip.mp4", audio_codec="aac", seconds=4)),
                 CorruptMedia, id="truncated-mp4"),
    pytest.param(lambda d: _cut_in_half(write_video(d / "clip.mp4", audio_codec="aac", seconds=4,
                                                    faststart=True)),
                 CorruptMedia, id="truncated-faststart-mp4"),
    pytest.param(lambda d: _cut_in_half(write_video(d / "clip.webm", codec="libvpx-vp9",
                                                    seconds=4)),
                 CorruptMedia, id="truncated-webm"),
    pytest.param(lambda d: write_tone(d / "voice.m4a", "aac"), NoVideoStream, id="audio-only-m4a"),
    pytest.param(lambda d: write_tone(d / "voice.ogg", "libopus", rate=48000), NoVideoStream,
                 id="audio-only-ogg"),
    pytest.param(lambda d: write_tone(d / "voice.wav", "pcm_s16le"), NoVideoStream,
                 id="audio-only-wav"),
    pytest.param(lambda d: _mp3_with_cover_art(d / "song_with_cover.mp3"), NoVideoStream,
                 id="mp3-with-cover-art", marks=needs_ffmpeg),
    pytest.param(lambda d: _video_track_without_frames(d / "empty_track.mkv"), ZeroFrames,
                 id="video-track-without-frames"),
]


@pytest.mark.parametrize(("make", "error"), BAD_UPLOADS)
def test_bad_upload_gets_its_typed_error(tmp_path, make, error):
    path = make(tmp_path)

    with pytest.raises(error) as info:
        decode_video(path)
    with pytest.raises(error):
        decode_video(path.read_bytes())

    assert type(info.value) is error
    assert info.value.user_message  # what the bot will say


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_damaged_bytes_never_crash(tmp_path, suffix, seed):
    # Garbage over a stretch in the middle: in Matroska it breaks the container (damaged),
    # in a faststart MP4 only frame payloads (the decoder conceals it). Either way the
    # result is frames or a typed error, never a crash.
    path = write_video(tmp_path / f"clip{suffix}", audio_codec="aac", seconds=3.0,
                       width=128, height=96, faststart=True)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    at = int(rng.integers(len(data) // 4, len(data) * 3 // 4))
    data[at:at + 500] = rng.bytes(len(data[at:at + 500]))

    try:
        video = decode_video(bytes(data))
    except UserError as exc:
        assert suffix == ".mkv", exc
        return
    assert video.frames.shape[0] == 12


def test_programming_errors_are_not_turned_into_user_errors(tmp_path, monkeypatch):
    path = write_video(tmp_path / "clip.mp4")

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(media, "_square_rgb", broken)
    with pytest.raises(ZeroDivisionError):
        decode_video(path)
