"""Previews: the user's video with a picked track laid under it, to hear the pick in place.

The picture is copied packet for packet when MP4 can hold its codec (no quality loss,
no decoding); otherwise (GIF, VP8, ...) it is re-encoded to H.264. The track, decoded by
:func:`core.media.load_audio`, is trimmed to the video's length, faded in and out, and
encoded as AAC. The video's own soundtrack is left out.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.media import load_audio

SAMPLE_RATE = 48_000
FADE_S = 1.5
# Codecs the MP4 muxer takes as they are.
_MP4_COPY = frozenset({"h264", "hevc", "mpeg4", "av1", "vp9"})
_AAC_FRAME = 1024


def preview_name(rank: int, title: str, turn_index: int) -> str:
    """A safe file name such as ``turn2-pick1-battle-music.mp4``."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "track"
    return f"turn{turn_index + 1}-pick{rank}-{slug}.mp4"


def write_preview(video: Path, track: Path, dest: Path, *, fade_s: float = FADE_S) -> Path:
    """Write ``dest`` (MP4): ``video``'s picture with ``track`` as its soundtrack.

    The audio is stereo AAC at 48 kHz, exactly as long as the video (silence after the
    track if the track is shorter), with linear fades of ``fade_s`` seconds (at most a
    quarter of the video) at both ends. Returns ``dest``.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    with av.open(str(video)) as src:
        vin = src.streams.video[0]
        duration = _duration(src, vin)
        audio = _soundtrack(track, duration, fade_s)
        with av.open(str(tmp), "w", format="mp4") as out:
            # Every stream exists before the first packet: the header is written then.
            copy = vin.codec_context.name in _MP4_COPY
            vout = out.add_stream_from_template(vin) if copy else _video_encoder(vin, out)
            aout = out.add_stream("aac", rate=SAMPLE_RATE)
            aout.layout = "stereo"
            if copy:
                _copy_video(src, vin, out, vout)
            else:
                _reencode_video(src, vin, out, vout)
            _encode_audio(out, aout, audio)
    tmp.replace(dest)
    return dest


def _duration(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    # No duration in the header (some GIFs): count frame times once.
    last = 0.0
    for frame in container.decode(stream):
        if frame.time is not None:
            last = max(last, frame.time + float(frame.time_base or 0) * (frame.duration or 0))
    container.seek(0)
    return last


def _soundtrack(track: Path, duration: float, fade_s: float) -> np.ndarray:
    """[2, n] float32 stereo at SAMPLE_RATE, n = duration, faded at both ends."""
    n = max(1, round(duration * SAMPLE_RATE))
    mono = load_audio(track, SAMPLE_RATE, max_seconds=duration)[:n]
    sound = np.zeros(n, np.float32)
    sound[:mono.size] = mono
    fade = min(int(fade_s * SAMPLE_RATE), n // 4)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        sound[:fade] *= ramp
        end = min(mono.size, n)
        sound[end - fade:end] *= ramp[::-1]
    return np.stack([sound, sound])


def _copy_video(src, vin, out, vout) -> None:
    for packet in src.demux(vin):
        if packet.dts is None:  # the demuxer's empty flush packet
            continue
        packet.stream = vout
        out.mux(packet)


def _video_encoder(vin, out):
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    vout = out.add_stream(codec, rate=_rate(vin))
    # 4:2:0 needs even sides.
    vout.width = max(2, vin.codec_context.width // 2 * 2)
    vout.height = max(2, vin.codec_context.height // 2 * 2)
    vout.pix_fmt = "yuv420p"
    return vout


def _rate(vin) -> Fraction:
    return Fraction(vin.average_rate or vin.guessed_rate or 25)


def _reencode_video(src, vin, out, vout) -> None:
    rate = _rate(vin)
    for i, frame in enumerate(src.decode(vin)):
        frame = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
        frame.pts, frame.time_base = i, Fraction(1) / rate
        out.mux(vout.encode(frame))
    out.mux(vout.encode(None))


def _encode_audio(out, aout, audio: np.ndarray) -> None:
    for start in range(0, audio.shape[1], _AAC_FRAME):
        chunk = np.ascontiguousarray(audio[:, start:start + _AAC_FRAME])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        frame.time_base = Fraction(1, SAMPLE_RATE)
        out.mux(aout.encode(frame))
    out.mux(aout.encode(None))
