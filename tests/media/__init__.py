"""Tiny real media files, written with PyAV for the media tests.

Video frames are a flat grey whose level ramps with time (``ramp_level``), so a test
can tell from a decoded frame *where* in the video it came from. Audio is a sine tone.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Options that make the slow encoders fast enough for tests; keys absent for a codec
# are ignored by FFmpeg only when given per codec, so they are looked up by name.
_FAST_OPTIONS = {
    "libx264": {"preset": "ultrafast"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"},
    "vorbis": {"strict": "experimental"},
}


def ramp_level(t: float, duration: float) -> int:
    """Grey level of the frame shown at ``t`` seconds: 16 at the start, 235 at the end."""
    return int(round(16 + 219 * min(max(t / duration, 0.0), 1.0)))


def write_video(
    path: Path,
    *,
    codec: str = "libx264",
    width: int = 64,
    height: int = 48,
    fps: int = 10,
    seconds: float = 2.0,
    gop: int | None = None,
    audio_codec: str | None = None,
    audio_rate: int = 48000,
    pix_fmt: str | None = None,
    faststart: bool = False,
) -> Path:
    """Write a grey-ramp video (and optionally a 440 Hz soundtrack) to ``path``.

    The container comes from the file suffix (.mp4, .mov, .mkv, .webm, .gif).
    """
    fmt = {".gif": "gif", ".mkv": "matroska", ".webm": "webm"}.get(path.suffix)
    options = {"movflags": "+faststart"} if faststart and path.suffix in (".mp4", ".mov") else {}
    n = max(1, int(round(seconds * fps)))
    with av.open(str(path), "w", format=fmt, options=options) as out:
        video = out.add_stream(codec, rate=fps, options=dict(_FAST_OPTIONS.get(codec, {})))
        video.width, video.height = width, height
        video.pix_fmt = pix_fmt or ("rgb8" if codec == "gif" else "yuv420p")
        if gop is not None:
            video.codec_context.gop_size = gop
        audio = None
        if audio_codec is not None:
            audio = out.add_stream(audio_codec, rate=audio_rate,
                                   options=dict(_FAST_OPTIONS.get(audio_codec, {})))
            audio.layout = "mono"
        # Write audio and video interleaved by time so the muxer does not buffer.
        frame_size = 1024
        audio_done = 0
        total_audio = int(seconds * audio_rate)
        for i in range(n):
            frame = _grey_frame(width, height, video.pix_fmt, ramp_level(i / fps, seconds))
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
            while audio is not None and audio_done < min(total_audio, (i + 1) * audio_rate // fps):
                count = min(frame_size, total_audio - audio_done)
                out.mux(audio.encode(tone_frame(audio_done, count, audio_rate, audio)))
                audio_done += count
        while audio is not None and audio_done < total_audio:
            count = min(frame_size, total_audio - audio_done)
            out.mux(audio.encode(tone_frame(audio_done, count, audio_rate, audio)))
            audio_done += count
        out.mux(video.encode(None))
        if audio is not None:
            out.mux(audio.encode(None))
    return path


def _grey_frame(width: int, height: int, pix_fmt: str, level: int) -> av.VideoFrame:
    if pix_fmt != "yuv420p":
        rgb = np.full((height, width, 3), level, dtype=np.uint8)
        return av.VideoFrame.from_ndarray(rgb, format="rgb24")
    # Fill the YUV planes directly: an 8K RGB array and its conversion would dominate
    # the test's run time. Limited-range luma that decodes back to RGB ``level``.
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, value in zip(frame.planes, (round(16 + level * 219 / 255), 128, 128)):
        np.frombuffer(plane, dtype=np.uint8)[:] = value
    return frame


def tone_frame(start: int, count: int, rate: int, stream,
               freq: float | np.ndarray = 440.0) -> av.AudioFrame:
    """Samples ``start .. start + count`` of a sine tone, as an encodable frame for ``stream``."""
    t = (start + np.arange(count)) / rate
    if isinstance(freq, np.ndarray):  # a frequency per sample
        freq = freq[start:start + count]
    samples = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    fmt = stream.codec_context.format
    layout = stream.layout.name
    channels = len(stream.layout.channels)
    if fmt.name.startswith("s16"):
        samples = (samples * 32767).astype(np.int16)
    elif fmt.name.startswith("s32"):
        samples = (samples * 2147483647).astype(np.int32)
    # Planar formats want [channels, n]; packed ones [1, n * channels], interleaved.
    data = (np.repeat(samples[None, :], channels, axis=0) if fmt.is_planar
            else np.repeat(samples, channels)[None, :])
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt.name, layout=layout)
    frame.sample_rate = rate
    frame.pts = start
    frame.time_base = Fraction(1, rate)
    return frame


def write_tone(
    path: Path,
    codec: str,
    *,
    seconds: float = 2.0,
    rate: int = 44100,
    freq: float | tuple[float, ...] = 440.0,
    fmt: str | None = None,
    layout: str = "mono",
) -> Path:
    """Write a sine tone (amplitude 0.5, same in every channel) with ``codec`` to ``path``.

    ``freq`` may list several frequencies: each then fills an equal part of the duration.
    """
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, options=dict(_FAST_OPTIONS.get(codec, {})))
        stream.layout = layout
        total = int(seconds * rate)
        if isinstance(freq, tuple):
            freq = np.repeat(np.array(freq, dtype=np.float64), -(-total // len(freq)))[:total]
        done = 0
        while done < total:
            count = min(1024, total - done)
            frame = tone_frame(done, count, rate, stream, freq)
            out.mux(stream.encode(frame))
            done += count
        out.mux(stream.encode(None))
    return path
