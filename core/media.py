"""The one place that decodes media (PyAV, which bundles FFmpeg).

Uploaded videos are untrusted: :func:`decode_video` samples frames from them and
:func:`extract_audio` reads their soundtrack. Catalog tracks go through
:func:`load_audio` and :func:`audio_duration`.

An upload's decode is bounded before it costs much: the file size is checked before the
file is opened, the duration and picture size are read from the header before any frame
is decoded, and the wall clock (``decode_timeout_s``) is checked inside every loop. For
every input, only a fixed list of demuxers may probe it, so a file cannot make FFmpeg
follow a playlist, open another file or a URL, or reach a rarely used parser.

FFmpeg's errors become the typed errors of :mod:`core.errors` (each has a message for
the user); anything else, including a bug here, propagates unchanged.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from core.config import Settings, get_settings
from core.errors import (
    CorruptMedia,
    DecodeTimeout,
    FileTooLarge,
    FrameTooLarge,
    NoVideoStream,
    UnsupportedMedia,
    VideoTooLong,
    ZeroFrames,
)

MediaSource = Path | bytes
"""A file on disk, or an upload already held in memory (its size was bounded by the caller)."""

FRAME_SIZE = 224
"""Side of the square frames :func:`decode_video` returns: what CLIP ViT-B/32 and
EfficientNet-Lite0 take."""

_MB = 1024 * 1024  # upload limits are MiB, as the chat platforms count them

# Demuxers an input may be probed as: the video containers people post plus the audio
# ones (so an audio-only upload gets "no picture" rather than "not media"). Image
# demuxers are left out on purpose: a still image is not a video.
_DEMUXERS = ",".join((
    "mov", "mp4", "matroska", "webm", "gif", "apng", "avi", "mpegts", "flv", "ogg", "asf",
    "mpeg", "mp3", "wav", "w64", "flac", "aac", "aiff", "caf",
))
# Formats FFmpeg cannot seek in by timestamp: sampled in one forward pass instead.
_NO_SEEK_FORMATS = frozenset({"gif", "apng"})
_ANIMATED_IMAGE_FORMATS = _NO_SEEK_FORMATS  # one frame in these is a still image
_MAX_BAD_PACKETS = 64  # tolerate a few damaged packets, as players do; not a garbage stream
_STILL_IMAGE_MESSAGE = ("That's a still image, not a video. Please send a video "
                        "(mp4, webm, mov, mkv or GIF).")

# Python opens the files and FFmpeg only reads the file object, so FFmpeg's errors are
# about the media (its EPERM/ENOENT codes mean e.g. "cannot seek here"), except an
# exception raised by the file object itself: that one is ours and propagates.
_OUR_ERRORS = (av.error.PyAVCallbackError,)


@dataclass(frozen=True)
class DecodedVideo:
    """Frames sampled evenly across a video, and what is known about the video.

    ``frames`` is uint8 RGB ``[T, size, size, 3]``: each frame resized so its short side
    (in display proportions, rotation applied) is ``size``, then center-cropped to a
    square. ``T`` is the number of frames asked for, or fewer when the video has fewer
    distinct frames; never 0. ``timestamps[i]`` is the presentation time of
    ``frames[i]`` in seconds from the start of the video, strictly increasing.
    ``width``/``height`` are the stored picture size before any resizing.
    ``frames_decoded`` counts the frames the decoder produced to get the sample (the
    cost of the decode).
    """

    frames: np.ndarray
    timestamps: list[float]
    duration_s: float
    width: int
    height: int
    fps: float | None
    has_audio: bool
    content_hash: str
    frames_decoded: int = 0


def content_hash(source: MediaSource) -> str:
    """sha256 hex digest of the file's bytes (read in chunks, never whole)."""
    digest = hashlib.sha256()
    if isinstance(source, bytes):
        digest.update(source)
    else:
        with source.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


# --- video --------------------------------------------------------------------------


def decode_video(
    source: MediaSource,
    *,
    num_frames: int | None = None,
    size: int = FRAME_SIZE,
    settings: Settings | None = None,
    burst: int = 1,
    burst_step_s: float = 0.125,
) -> DecodedVideo:
    """Sample ``num_frames`` frames (default ``settings.num_frames``) evenly across a video.

    Frame ``i`` of ``N`` is the frame on screen at the middle of the i-th of N equal
    segments, time ``(i + 0.5) * duration / N`` (so a two-frame clip gives both frames).
    Frames are reached by seeking (to the keyframe before each target, then decoding
    forward), or by decoding on from the previous target when no keyframe lies between;
    formats that cannot seek (GIF) are read in one pass that keeps only the frames on
    screen at the targets. See :class:`DecodedVideo` for the resize and crop.

    ``burst`` > 1 also takes, after each target, the frames on screen ``burst_step_s``,
    ``2 * burst_step_s``... later (``burst`` frames per target in all, fewer where they
    coincide or pass the end), so that neighbouring frames show motion; they cost a few
    more decoded frames, never another seek.

    Videos longer than ``settings.max_video_seconds`` are refused with
    :class:`VideoTooLong` (not sampled from a prefix, which would misrepresent them).

    Raises :class:`FileTooLarge`, :class:`UnsupportedMedia` (not media, a still image, or
    an empty file), :class:`CorruptMedia` (damaged or cut off), :class:`NoVideoStream`
    (audio only), :class:`ZeroFrames`, :class:`VideoTooLong`, :class:`FrameTooLarge`,
    :class:`DecodeTimeout`.
    """
    settings = settings or get_settings()
    num_frames = num_frames if num_frames is not None else settings.num_frames
    if num_frames < 1 or size < 1:
        raise ValueError(f"num_frames and size must be positive, got {num_frames}, {size}")
    deadline = _Deadline(settings.decode_timeout_s)
    _check_file_size(source, settings)
    digest = content_hash(source)

    with _open_media(source) as container:
        format_name = container.format.name
        info = _probe_video(container, settings, deadline)
        targets = _targets(info.duration_s, num_frames, burst, burst_step_s)
        sample = None
        if format_name not in _NO_SEEK_FORMATS:
            sample = _sample_by_seeking(container, info, targets, size, settings, deadline)
    if sample is None:  # seeking is impossible or unreliable here: one forward pass
        with _open_media(source) as container:
            info = _probe_video(container, settings, deadline)
            sample = _sample_in_one_pass(container, info, targets, size, settings, deadline)

    _check_sample(sample, info, format_name)
    times = sorted(sample.picks)  # keyed by time, so equal frames appear once
    return DecodedVideo(
        frames=np.stack([sample.picks[t] for t in times]),
        timestamps=times,
        duration_s=info.duration_s,
        width=info.width,
        height=info.height,
        fps=info.fps,
        has_audio=info.has_audio,
        content_hash=digest,
        frames_decoded=sample.decoded,
    )


def _targets(duration_s: float, num_frames: int, burst: int, step_s: float) -> list[float]:
    """Sample times: the middle of each of ``num_frames`` equal segments, each followed by
    ``burst - 1`` more at ``step_s`` intervals (kept inside the video), increasing."""
    base = [(i + 0.5) * duration_s / num_frames for i in range(num_frames)]
    times = {t + j * step_s for t in base for j in range(max(1, burst)) if j == 0 or t + j * step_s < duration_s}
    return sorted(times)


@dataclass
class _VideoInfo:
    stream: av.video.stream.VideoStream
    width: int
    height: int
    fps: float | None
    duration_s: float
    duration_declared: bool  # from the header (else measured from the packets)
    has_audio: bool
    sar: Fraction | None  # sample (pixel) aspect ratio; None when square


@dataclass
class _Sample:
    picks: dict[float, np.ndarray] = field(default_factory=dict)  # time (s) -> frame
    decoded: int = 0
    packets: int = 0
    bad_packets: int = 0
    reached_end: bool = False  # the stream ended (or broke off) while we read it
    last_time: float = -math.inf  # latest frame time seen


def _probe_video(container, settings: Settings, deadline: _Deadline) -> _VideoInfo:
    """The video stream and its bounds, checked before any frame is decoded."""
    streams = [s for s in container.streams.video
               if not s.disposition & av.stream.Disposition.attached_pic]  # cover art
    if not streams:
        if container.streams.audio:
            raise NoVideoStream(f"{container.format.name}: audio only")
        raise UnsupportedMedia(f"{container.format.name}: no video or audio stream")
    stream = streams[0]
    if stream.codec_context is None:
        raise UnsupportedMedia(f"{container.format.name}: no decoder for the video codec")
    width, height = stream.codec_context.width, stream.codec_context.height
    _check_pixels(width, height, settings)
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else None

    duration = _declared_duration(container, stream)
    declared = duration is not None
    if duration is None:
        duration = _scan_duration(container, stream, settings, deadline)
    if duration > settings.max_video_seconds:
        raise VideoTooLong(f"{duration:.1f} s > {settings.max_video_seconds:g} s",
                           limit_s=settings.max_video_seconds)
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return _VideoInfo(stream, width, height, fps, duration, declared,
                      has_audio=bool(container.streams.audio), sar=sar or None)


def _declared_duration(container, stream) -> float | None:
    """The video stream's duration from the header, in seconds; None if not stated."""
    if stream.duration and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    # Matroska states per-track durations as a tag ("00:01:02.500000000").
    tag = next((v for k, v in stream.metadata.items() if k.upper() == "DURATION"), None)
    if tag and (m := re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", tag.strip())):
        seconds = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
        if seconds > 0:
            return seconds
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    return None


def _scan_duration(container, stream, settings: Settings, deadline: _Deadline) -> float:
    """Duration measured from packet timestamps (no decoding), for containers that don't
    state it (live-recorded WebM, raw streams). Stops as soon as it passes the limit."""
    start = stream.start_time or 0
    tb = stream.time_base
    end = 0.0
    count = 0
    fps = float(stream.average_rate or stream.guessed_rate or 25)
    packets = container.demux(stream)
    try:
        while end <= settings.max_video_seconds:
            deadline.check()
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                if not _is_media_error(exc):
                    raise
                break  # broken off: the decode will judge what is there
            if packet.size == 0:
                continue
            count += 1
            if packet.pts is not None and tb:
                end = max(end, float((packet.pts - start + (packet.duration or 0)) * tb))
            else:
                end = count / fps
    finally:
        packets.close()
    return end


def _sample_by_seeking(container, info: _VideoInfo, targets: list[float], size: int,
                       settings: Settings, deadline: _Deadline) -> _Sample | None:
    """Frames at ``targets`` by seeking; None when seeking turns out not to work here."""
    stream = info.stream
    tb = stream.time_base
    start = stream.start_time or 0
    if not tb:
        return None
    sample = _Sample()
    keyframes = _KeyframeIndex(stream)
    slack = max(0.5, 2 / info.fps if info.fps else 0.0)
    seek_spans: list[float] = []  # seconds decoded after each seek to reach its target
    cursor: _FrameCursor | None = None
    try:
        for target in targets:
            target_pts = start + math.floor(target / tb)
            seeked = cursor is None or _should_seek(target, cursor, keyframes, target_pts,
                                                    tb, start, seek_spans)
            if seeked:
                if cursor is not None:
                    cursor.close()
                try:
                    container.seek(target_pts, stream=stream, backward=True, any_frame=False)
                except av.error.FFmpegError as exc:
                    if not _is_media_error(exc):
                        raise
                    return None
                cursor = _FrameCursor(_decode(container, stream, sample, settings, deadline),
                                      start, tb)
            picked = cursor.at(target)
            if seeked and cursor.first_time is not None:
                # Landing past the target means the index lied: don't trust seeking.
                if cursor.first_time > target + slack:
                    return None
                seek_spans.append(max(0.0, target - cursor.first_time))
            if picked is not None and picked[0] not in sample.picks:
                sample.picks[picked[0]] = _square_rgb(picked[1], size, info.sar)
    except _NoTimestamps:
        return None
    finally:
        if cursor is not None:
            cursor.close()
    return sample


def _should_seek(target: float, cursor: _FrameCursor, keyframes: _KeyframeIndex,
                 target_pts: int, tb, start: int, seek_spans: list[float]) -> bool:
    """Seek only when it skips work: a keyframe lies between here and the target."""
    if cursor.position is None:
        return True
    if cursor.ahead_time is not None and cursor.ahead_time > target:
        return False  # the frame on screen at the target is already decoded
    keyframe = keyframes.at_or_before(target_pts)
    if keyframe is not None:
        return float((keyframe - start) * tb) > cursor.position
    # No index: seek when the gap is longer than what a seek has cost so far.
    return not seek_spans or target - cursor.position > sum(seek_spans) / len(seek_spans)


def _sample_in_one_pass(container, info: _VideoInfo, targets: list[float], size: int,
                        settings: Settings, deadline: _Deadline) -> _Sample:
    """Frames at ``targets`` in one forward decode, holding at most two frames."""
    stream = info.stream
    sample = _Sample()
    cursor = _FrameCursor(_decode(container, stream, sample, settings, deadline),
                          stream.start_time or 0, stream.time_base, fps=info.fps or 25.0)
    try:
        for target in targets:
            picked = cursor.at(target)
            if picked is not None and picked[0] not in sample.picks:
                sample.picks[picked[0]] = _square_rgb(picked[1], size, info.sar)
    finally:
        cursor.close()
    return sample


class _NoTimestamps(Exception):
    """Frames without timestamps: seeking by time cannot work on this stream."""


class _FrameCursor:
    """Walks decoded frames forward and answers: which frame is on screen at time t?

    That is the last frame whose time is <= t (the first frame, for a t before it).
    Holds at most two undecoded-to-RGB frames: the one on screen and the next one.
    """

    def __init__(self, frames: Iterator[av.VideoFrame], start: int, tb: Fraction | None,
                 fps: float | None = None):
        self._frames = frames
        self._start, self._tb = start, tb
        self._fps = fps  # to number frames without timestamps; None: refuse them
        self._count = 0
        self._current: tuple[float, av.VideoFrame] | None = None
        self._ahead: tuple[float, av.VideoFrame] | None = None
        self._ended = False
        self.first_time: float | None = None

    @property
    def position(self) -> float | None:
        return self._current[0] if self._current else None

    @property
    def ahead_time(self) -> float | None:
        return self._ahead[0] if self._ahead else None

    def at(self, t: float) -> tuple[float, av.VideoFrame] | None:
        """(time, frame) on screen at ``t`` seconds; None when the stream has no frames."""
        while True:
            if self._ahead is None and not self._ended:
                self._ahead = self._pull()
            if self._ahead is None or self._ahead[0] > t + 1e-6:
                return self._current or self._ahead
            self._current, self._ahead = self._ahead, None

    def _pull(self) -> tuple[float, av.VideoFrame] | None:
        frame = next(self._frames, None)
        if frame is None:
            self._ended = True
            return None
        t = _frame_time(frame, self._start, self._tb)
        if t is None:
            if self._fps is None:
                raise _NoTimestamps
            t = self._count / self._fps
        self._count += 1
        if self.first_time is None:
            self.first_time = t
        return t, frame

    def close(self) -> None:
        self._frames.close()


def _decode(container, stream, sample: _Sample, settings: Settings,
            deadline: _Deadline) -> Iterator[av.VideoFrame]:
    """Decoded frames from the container's position on. A damaged packet is skipped; a
    container that breaks off ends the stream like EOF (the caller judges how far it got)."""
    packets = container.demux(stream)
    try:
        while True:
            deadline.check()
            try:
                packet = next(packets)
            except StopIteration:
                sample.reached_end = True
                return
            except av.error.FFmpegError as exc:
                if not _is_media_error(exc):
                    raise
                sample.reached_end = True
                return
            if packet.size:
                sample.packets += 1
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                if not _is_media_error(exc):
                    raise
                sample.bad_packets += 1
                if sample.bad_packets > _MAX_BAD_PACKETS:
                    raise CorruptMedia(f"too many undecodable packets: {exc}") from exc
                continue
            for frame in frames:
                sample.decoded += 1
                _check_pixels(frame.width, frame.height, settings)
                t = _frame_time(frame, stream.start_time or 0, stream.time_base)
                if t is not None:
                    sample.last_time = max(sample.last_time, t)
                yield frame
    finally:
        packets.close()


def _check_sample(sample: _Sample, info: _VideoInfo, format_name: str) -> None:
    if not sample.picks:
        if sample.packets or sample.bad_packets or info.stream.frames:
            raise CorruptMedia(f"{sample.packets} packets, {sample.bad_packets} bad, no frame")
        raise ZeroFrames("video stream holds no frames")
    if format_name in _ANIMATED_IMAGE_FORMATS and sample.reached_end and sample.decoded == 1:
        raise UnsupportedMedia("a single-frame image", user_message=_STILL_IMAGE_MESSAGE)
    # Data that stops well before the stated duration: the file was cut off.
    if sample.reached_end and info.duration_declared and sample.last_time > -math.inf:
        frame_s = 1 / info.fps if info.fps else 0.04
        missing = info.duration_s - sample.last_time
        if missing > max(0.5, 4 * frame_s, 0.05 * info.duration_s):
            raise CorruptMedia(f"stream ends at {sample.last_time:.2f} s of "
                               f"{info.duration_s:.2f} s")


class _KeyframeIndex:
    """The demuxer's index of the stream (MP4 sample table, Matroska cues), if any."""

    def __init__(self, stream):
        self._entries = stream.index_entries

    def at_or_before(self, pts: int) -> int | None:
        """Timestamp of the last indexed keyframe at or before ``pts`` (stream time base)."""
        entries = self._entries
        i = bisect.bisect_right(entries, pts, key=lambda e: e.timestamp)
        for j in range(i - 1, max(-1, i - 1 - 1024), -1):  # a GOP is rarely longer
            if entries[j].is_keyframe:
                return entries[j].timestamp
        return None


def _frame_time(frame, start: int, tb: Fraction | None) -> float | None:
    pts = frame.pts if frame.pts is not None else frame.dts
    if pts is None or not tb:
        return None
    return float((pts - start) * tb)


def _square_rgb(frame: av.VideoFrame, size: int, sar: Fraction | None) -> np.ndarray:
    """uint8 RGB ``[size, size, 3]``: short side scaled to ``size``, center-cropped.

    Scaling happens in the conversion itself (swscale), so a full-size RGB copy of an 8K
    frame never exists. Non-square pixels (``sar``, the stream's sample aspect ratio) and
    rotation metadata (phone videos) are honoured, as players do.
    """
    display_w = frame.width * (float(sar) if sar and sar > 0 else 1.0)
    scale = size / min(display_w, frame.height)
    out_w = max(size, round(display_w * scale))
    out_h = max(size, round(frame.height * scale))
    rgb = frame.reformat(width=out_w, height=out_h, format="rgb24").to_ndarray()
    y0, x0 = (out_h - size) // 2, (out_w - size) // 2
    square = rgb[y0:y0 + size, x0:x0 + size]
    turns = round(frame.rotation / 90) % 4  # counterclockwise, as FFmpeg's autorotate
    if turns:
        square = np.rot90(square, k=turns)
    return np.ascontiguousarray(square)


# --- audio --------------------------------------------------------------------------


def extract_audio(
    source: MediaSource,
    sr: int = 16000,
    *,
    max_seconds: float | None = None,
    settings: Settings | None = None,
) -> np.ndarray | None:
    """A video's soundtrack as float32 mono ``[n]`` in [-1, 1] at ``sr`` Hz.

    Reads at most ``max_seconds`` (default ``settings.max_video_seconds``) from the start.
    None when the file has no audio stream. Raises the same typed errors as
    :func:`decode_video` for files that are too large, not media, or damaged.
    """
    settings = settings or get_settings()
    deadline = _Deadline(settings.decode_timeout_s)
    _check_file_size(source, settings)
    with _open_media(source) as container:
        if not container.streams.audio:
            return None
        limit = settings.max_video_seconds if max_seconds is None else max_seconds
        return _decode_audio(container, container.streams.audio[0], sr, 0.0, limit, deadline)


def load_audio(path: Path, sr: int, *, offset_s: float = 0.0,
               max_seconds: float | None = None) -> np.ndarray:
    """A catalog track as float32 mono ``[n]`` in [-1, 1] at ``sr`` Hz.

    Starts ``offset_s`` seconds in (by seeking) and reads at most ``max_seconds`` (None:
    to the end; a file cut short gives what it holds, as players do). Channels are
    averaged. Any container and codec FFmpeg reads: ogg/vorbis,
    mp3, flac, wav, m4a/aac, opus. Raises :class:`UnsupportedMedia` (not audio) or
    :class:`CorruptMedia`.
    """
    if offset_s < 0 or (max_seconds is not None and max_seconds < 0):
        raise ValueError(f"offset_s and max_seconds must not be negative: "
                         f"{offset_s}, {max_seconds}")
    with _open_media(Path(path)) as container:
        stream = _audio_stream(container)
        return _decode_audio(container, stream, sr, offset_s, max_seconds, None)


def audio_duration(path: Path) -> float:
    """Length of an audio file in seconds, from its header (no decoding when stated)."""
    path = Path(path)
    with _open_media(path) as container:
        stream = _audio_stream(container)
        if stream.duration and stream.duration > 0 and stream.time_base:
            return float(stream.duration * stream.time_base)
        if container.duration and container.duration > 0:
            return container.duration / av.time_base
    try:  # some headers FFmpeg doesn't fill in are read by mutagen
        import mutagen

        tagged = mutagen.File(path)
        if tagged is not None and getattr(tagged.info, "length", 0) > 0:
            return float(tagged.info.length)
    except mutagen.MutagenError:
        pass
    with _open_media(path) as container:  # last resort: count the samples
        samples = 0
        with _media_errors():
            for frame in container.decode(_audio_stream(container)):
                samples += frame.samples
                rate = frame.sample_rate
        return samples / rate if samples else 0.0


def _audio_stream(container):
    if not container.streams.audio:
        raise UnsupportedMedia(f"{container.format.name}: no audio stream",
                               user_message="That file has no audio I can read.")
    stream = container.streams.audio[0]
    if stream.codec_context is None:
        raise UnsupportedMedia(f"{container.format.name}: no decoder for the audio codec")
    return stream


def _decode_audio(container, stream, sr: int, offset_s: float, max_seconds: float | None,
                  deadline: _Deadline | None) -> np.ndarray:
    """Decode ``stream`` to float32 mono at ``sr``: seek to ``offset_s``, trim to the
    exact sample, stop after ``max_seconds``."""
    tb = stream.time_base
    start = stream.start_time or 0
    if offset_s > 0 and tb:
        with _media_errors():
            container.seek(start + math.floor(offset_s / tb), stream=stream, backward=True)
    # Keep the channels through the resampler and average them here: FFmpeg's own
    # downmix scales stereo by 1/sqrt(2) per channel, which can leave [-1, 1].
    resampler = av.AudioResampler(format="fltp", rate=sr)
    chunks: list[np.ndarray] = []
    have = 0
    skip: int | None = None if offset_s > 0 else 0  # samples before offset_s, once known
    want = math.inf if max_seconds is None else round(max_seconds * sr)
    bad = 0

    def take(frames) -> None:
        nonlocal have
        for out in frames:
            mono = out.to_ndarray().mean(axis=0, dtype=np.float32)
            chunks.append(mono)
            have += mono.size

    packets = container.demux(stream)
    ended = False
    try:
        while skip is None or have < skip + want:
            if deadline is not None:
                deadline.check()
            try:
                packet = next(packets)
            except StopIteration:
                ended = True
                break
            except av.error.FFmpegError as exc:
                if not _is_media_error(exc):
                    raise
                ended = True  # a cut-off file: keep what decoded
                break
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as exc:
                if not _is_media_error(exc):
                    raise
                bad += 1
                if bad > _MAX_BAD_PACKETS:
                    raise CorruptMedia(f"too many undecodable audio packets: {exc}") from exc
                continue
            for frame in decoded:
                if skip is None:
                    first = _frame_time(frame, start, tb)
                    skip = max(0, round((offset_s - (first or 0.0)) * sr))
                frame.pts = None  # the resampler keeps its own clock; gaps are not filled
                take(resampler.resample(frame))
        if ended:
            with _media_errors():
                take(resampler.resample(None))  # the resampler's delayed tail
    finally:
        packets.close()
    if not have and (bad or offset_s == 0):
        raise CorruptMedia(f"no audio could be decoded ({bad} damaged packets)")
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    end = None if want == math.inf else (skip or 0) + want
    audio = audio[skip or 0:end]
    return np.clip(audio, -1.0, 1.0, out=audio)


# --- shared -------------------------------------------------------------------------


class _Deadline:
    """Wall-clock limit of one decode, checked inside every loop."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self._end:
            raise DecodeTimeout(f"decoding took longer than {self.seconds:g} s")


def _check_file_size(source: MediaSource, settings: Settings) -> None:
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    if size > settings.max_upload_mb * _MB:
        raise FileTooLarge(f"{size / _MB:.1f} MB > {settings.max_upload_mb:g} MB",
                           limit_mb=settings.max_upload_mb)


def _check_pixels(width: int, height: int, settings: Settings) -> None:
    if width * height > settings.max_frame_pixels:
        raise FrameTooLarge(f"{width}x{height} > {settings.max_frame_pixels} pixels",
                            width=width, height=height)


def _is_media_error(exc: BaseException) -> bool:
    return isinstance(exc, av.error.FFmpegError) and not isinstance(exc, _OUR_ERRORS)


@contextmanager
def _media_errors() -> Iterator[None]:
    """FFmpeg errors while reading a file that opened fine mean it is damaged."""
    try:
        yield
    except av.error.FFmpegError as exc:
        if not _is_media_error(exc):
            raise
        raise CorruptMedia(str(exc)) from exc


@contextmanager
def _open_media(source: MediaSource) -> Iterator[av.container.InputContainer]:
    """Open ``source`` for reading, probing only :data:`_DEMUXERS`.

    A path is opened by Python and handed over as a file object, so FFmpeg never parses
    it as a URL ("concat:", "http:") and reads it in chunks, never whole.
    """
    with (source.open("rb") if isinstance(source, Path) else io.BytesIO(source)) as file:
        head = file.read(64)
        file.seek(0)
        if not head:
            raise UnsupportedMedia("empty file", user_message="That file is empty.")
        try:
            container = av.open(_Unnamed(file), "r", metadata_errors="replace",
                                container_options={"format_whitelist": _DEMUXERS})
        except av.error.FFmpegError as exc:
            if not _is_media_error(exc):
                raise
            raise _unopenable(head, exc) from exc
        with container:
            yield container


class _Unnamed:
    """A file object without a ``name``: PyAV would pass the name to FFmpeg, which then
    trusts the file's suffix ("x.flac") when the content looks like nothing."""

    def __init__(self, file):
        self.read, self.seek, self.tell = file.read, file.seek, file.tell
        self.readable, self.seekable = file.readable, file.seekable


def _unopenable(head: bytes, exc: Exception) -> Exception:
    """Why a file FFmpeg could not open was refused, judged by its first bytes."""
    kind = _sniff(head)
    if kind == "image":
        return UnsupportedMedia(f"still image: {exc}", user_message=_STILL_IMAGE_MESSAGE)
    if kind == "media":  # a container we know, but unreadable: damaged or cut off
        return CorruptMedia(str(exc))
    return UnsupportedMedia(str(exc))


def _sniff(head: bytes) -> str | None:
    """"media" or "image" from a file's magic bytes; None when unrecognised."""
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*")):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"):
        return "media"  # ISO base media: mp4, mov, m4a, 3gp
    if head.startswith((
        b"\x1a\x45\xdf\xa3",  # EBML: Matroska, WebM
        b"GIF87a", b"GIF89a", b"OggS", b"fLaC", b"ID3", b"FLV", b"caff",
        b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",  # ASF: wmv, wma
        b"\x00\x00\x01\xba",  # MPEG program stream
    )):
        return "media"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] in (b"AVI ", b"WAVE"):
        return "media"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "media"
    return None
