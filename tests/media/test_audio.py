"""load_audio / audio_duration on catalog formats, and extract_audio on videos' soundtracks.

Every file is a 0.5-amplitude sine written by the test with FFmpeg's own encoders.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import CorruptMedia, UnsupportedMedia
from core.media import audio_duration, extract_audio, load_audio
from tests.media import write_tone, write_video

pytestmark = pytest.mark.timeout(60)

# (suffix, encoder, sample rate, channels); the native Vorbis encoder only does stereo.
FORMATS = [
    pytest.param(".ogg", "vorbis", 44100, "stereo", id="ogg-vorbis"),
    pytest.param(".mp3", "libmp3lame", 44100, "mono", id="mp3"),
    pytest.param(".flac", "flac", 44100, "mono", id="flac"),
    pytest.param(".wav", "pcm_s16le", 22050, "mono", id="wav"),
    pytest.param(".m4a", "aac", 44100, "mono", id="m4a-aac"),
    pytest.param(".opus", "libopus", 48000, "stereo", id="opus"),
]


def peak_hz(audio: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.argmax(spectrum) * sr / audio.size)


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


@pytest.mark.parametrize(("suffix", "codec", "rate", "layout"), FORMATS)
def test_each_format_decodes_to_mono_at_the_asked_rate(tmp_path, suffix, codec, rate, layout):
    path = write_tone(tmp_path / f"tone{suffix}", codec, seconds=2.0, rate=rate, layout=layout)

    audio = load_audio(path, 16000)

    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size / 16000 == pytest.approx(2.0, abs=0.05)  # codecs pad a few ms
    assert np.abs(audio).max() <= 1.0
    assert peak_hz(audio, 16000) == pytest.approx(440.0, abs=2.0)
    # Channels are averaged, not summed: a 0.5 sine keeps its RMS of 0.354.
    assert rms(audio[1600:-1600]) == pytest.approx(0.5 / np.sqrt(2), abs=0.03)
    assert audio_duration(path) == pytest.approx(2.0, abs=0.03)


@pytest.mark.parametrize(("suffix", "codec", "rate", "layout"), FORMATS)
def test_offset_and_max_seconds_cut_the_right_part(tmp_path, suffix, codec, rate, layout):
    # 0-1 s at 440 Hz, 1-2 s at 880 Hz: the frequency says which part was read.
    path = write_tone(tmp_path / f"two{suffix}", codec, seconds=2.0, rate=rate, layout=layout,
                      freq=(440.0, 880.0))

    first = load_audio(path, 22050, offset_s=0.25, max_seconds=0.5)
    second = load_audio(path, 22050, offset_s=1.25, max_seconds=0.5)
    across = load_audio(path, 16000, offset_s=0.8, max_seconds=0.4)

    assert first.size == second.size == 11025
    assert peak_hz(first, 22050) == pytest.approx(440.0, abs=5.0)
    assert peak_hz(second, 22050) == pytest.approx(880.0, abs=5.0)
    # The switch lands in the middle of the window (seeking is sample-accurate to ~10 ms).
    assert across.size == 6400
    assert peak_hz(across[:3000], 16000) == pytest.approx(440.0, abs=10.0)
    assert peak_hz(across[3400:], 16000) == pytest.approx(880.0, abs=10.0)


def test_resampling_keeps_the_tone_at_several_rates(tmp_path):
    path = write_tone(tmp_path / "tone.flac", "flac", seconds=1.0, rate=44100)

    for sr in (8000, 16000, 22050, 48000):
        audio = load_audio(path, sr)
        assert audio.size == pytest.approx(sr, abs=sr * 0.01)
        assert peak_hz(audio, sr) == pytest.approx(440.0, abs=2.0)


def test_reading_past_the_end_gives_what_there_is(tmp_path):
    path = write_tone(tmp_path / "tone.wav", "pcm_s16le", seconds=1.0, rate=16000)

    assert load_audio(path, 16000, offset_s=0.5, max_seconds=10.0).size == 8000
    assert load_audio(path, 16000, offset_s=5.0).size == 0


def _cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(("make", "error"), [
    pytest.param(lambda d: (d / "a.mp3").write_text("not audio\n") and d / "a.mp3",
                 UnsupportedMedia, id="text"),
    pytest.param(lambda d: (d / "a.ogg").write_bytes(b"") == 0 and d / "a.ogg",
                 UnsupportedMedia, id="zero-bytes"),
    pytest.param(lambda d: (d / "a.flac").write_bytes(np.random.default_rng(2).bytes(20_000))
                 and d / "a.flac", UnsupportedMedia, id="random-bytes"),
    pytest.param(lambda d: write_video(d / "silent.mp4"), UnsupportedMedia,
                 id="video-without-audio"),
    pytest.param(lambda d: _cut_in_half(write_tone(d / "a.m4a", "aac")), CorruptMedia,
                 id="truncated-m4a"),
])
def test_bad_audio_files_get_typed_errors(tmp_path, make, error):
    path = make(tmp_path)

    with pytest.raises(error):
        load_audio(path, 16000)
    with pytest.raises(error):
        audio_duration(path)


def test_truncated_stream_keeps_what_decoded(tmp_path):
    # A catalog mp3 cut short still plays up to the cut, as in any player.
    path = _cut_in_half(write_tone(tmp_path / "a.mp3", "libmp3lame", seconds=2.0))

    audio = load_audio(path, 16000)

    assert audio.size / 16000 == pytest.approx(1.0, abs=0.1)
    assert peak_hz(audio, 16000) == pytest.approx(440.0, abs=2.0)


# --- a video's soundtrack ----------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "codec", "audio_codec"), [
    pytest.param(".mp4", "libx264", "aac", id="mp4-aac"),
    pytest.param(".webm", "libvpx-vp9", "libopus", id="webm-opus"),
])
def test_extract_audio_reads_a_videos_soundtrack(tmp_path, suffix, codec, audio_codec):
    path = write_video(tmp_path / f"clip{suffix}", codec=codec, audio_codec=audio_codec,
                       seconds=2.0)

    audio = extract_audio(path, sr=16000)
    head = extract_audio(path.read_bytes(), sr=16000, max_seconds=0.5)

    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size / 16000 == pytest.approx(2.0, abs=0.05)
    assert peak_hz(audio, 16000) == pytest.approx(440.0, abs=2.0)
    assert head.size == 8000


def test_extract_audio_of_a_silent_video_is_none(tmp_path):
    assert extract_audio(write_video(tmp_path / "silent.mp4")) is None
