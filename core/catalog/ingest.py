"""Ingest audio files into the catalog: metadata, tags, tempo, vocals, embeddings.

Each file becomes a ``Track`` row (SQL) plus its features (``FeatureStore``). Files are
identified by content hash: re-running skips files already ingested with the same
encoders; a file that cannot be decoded is reported and skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select

from core.catalog.analysis import estimate_vocal_probability, measure_rhythm
from core.catalog.store import FeatureStore
from core.catalog.tempo import RHYTHM_VERSION, reconcile_tempo
from core.config import Settings
from core.db.models import Track
from core.db.session import session_scope
from core.encoders import MusicEncoder, segment_windows
from core.errors import UserError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = {".ogg", ".oga", ".mp3", ".flac", ".wav", ".m4a", ".aac", ".opus", ".webm", ".mka"}


@dataclass
class TrackInfo:
    """What is known about a file before analysis (from tags, sidecars, packages)."""

    path: Path
    title: str
    artist: str | None = None
    album: str | None = None
    licence: str = "unknown"
    attribution: str = ""
    source: str = "local"


@dataclass
class IngestReport:
    added: list[int] = field(default_factory=list)
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def speed(self) -> float:
        """Audio seconds analysed per wall-clock second."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_audio(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def info_from_file(path: Path, *, source: str = "local", licence: str = "unknown",
                   attribution: str = "") -> TrackInfo:
    """Title/artist/album from a sidecar ``<file>.json`` or the file's own tags, else the name."""
    meta: dict[str, str] = {}
    sidecar = path.with_name(path.name + ".json")
    if sidecar.exists():
        meta = {k: str(v) for k, v in json.loads(sidecar.read_text()).items() if v}
    else:
        try:
            import mutagen

            tags = mutagen.File(path, easy=True)
            if tags is not None and tags.tags is not None:
                meta = {k: v[0] for k, v in tags.tags.items() if v and k in ("title", "artist", "album")}
        except Exception as exc:  # unreadable tags are not fatal: the name is a fine title
            log.debug("no tags in %s: %s", path, exc)
    title = meta.get("title") or path.stem.replace("_", " ").replace("-", " ").strip().title()
    return TrackInfo(path=path, title=title, artist=meta.get("artist"), album=meta.get("album"),
                     licence=meta.get("licence", licence), attribution=meta.get("attribution", attribution),
                     source=meta.get("source", source))


def ingest(items: Iterable[TrackInfo], encoder: MusicEncoder, settings: Settings, *,
           progress: Callable[[TrackInfo, str], None] | None = None,
           database_url: str | None = None) -> IngestReport:
    """Analyse and store each item; ``progress(item, outcome)`` is called once per item.

    outcome is "added", "skipped" or "failed: <reason>".
    """
    store = FeatureStore(settings.catalog_dir)
    version = encoder.name
    report = IngestReport()
    start = time.perf_counter()
    for item in items:
        outcome = "added"
        try:
            digest = file_hash(item.path)
            with session_scope(database_url) as s:
                existing = s.scalar(select(Track).where(Track.content_hash == digest))
                if existing is not None and existing.embedding_version == version and store.has(digest, version):
                    report.skipped += 1
                    outcome = "skipped"
                    continue
            duration, windows, excerpt = load_analysis_audio(item.path, encoder.sample_rate, encoder.window_s)
            features = encoder.encode_windows(windows)
            store.save(digest, features, version)
            with session_scope(database_url) as s:
                track = s.scalar(select(Track).where(Track.content_hash == digest)) or Track(content_hash=digest)
                track.path = str(item.path.resolve())
                track.title = item.title[:300]
                track.artist = item.artist
                track.album = item.album
                track.duration_s = round(duration, 2)
                track.licence = item.licence
                track.attribution = item.attribution
                track.source = item.source
                track.tags = features.tags
                set_rhythm_facts(track, excerpt, encoder.sample_rate)
                track.vocal_prob = estimate_vocal_probability(features.tags)
                track.embedding_version = version
                s.add(track)
                s.flush()
                report.added.append(track.id)
            report.audio_seconds += duration
        except UserError as exc:
            outcome = f"failed: {_reason(exc)}"
            report.failed.append((str(item.path), _reason(exc)))
        finally:
            if progress:
                progress(item, outcome)
    report.wall_seconds = time.perf_counter() - start
    return report


def set_rhythm_facts(track: Track, excerpt: np.ndarray, sr: int) -> None:
    """Measure the excerpt's rhythm and store the reconciled tempo, feel and provenance on ``track``.

    excerpt: [N] float32 mono at ``sr`` Hz (the tempo excerpt); ``track.tags`` must be set.
    The one place ingestion and ``rederive_rhythm`` turn audio into tempo facts.
    """
    rhythm = measure_rhythm(excerpt, sr)
    decision = reconcile_tempo(rhythm.tempo_bpm, track.tags, rhythm.onset_rate, rhythm.weak_beat_ratio)
    track.tempo_raw_bpm = rhythm.tempo_bpm
    track.onset_rate = rhythm.onset_rate
    track.tempo_bpm = decision.tempo_bpm
    track.tempo_feel = decision.feel
    track.tempo_basis = decision.basis()


def rhythm_is_current(track: Track) -> bool:
    """Were this track's tempo facts derived by the current rule version?"""
    return bool(track.tempo_basis) and track.tempo_basis.get("version") == RHYTHM_VERSION


@dataclass
class RederiveReport:
    done: int = 0
    skipped: int = 0  # already at the current version
    changed: int = 0  # tempo_bpm differs from what was stored before
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def rederive_rhythm(sample_rate: int, *, force: bool = False, database_url: str | None = None,
                    progress: Callable[[Track, str], None] | None = None,
                    total: Callable[[int], None] | None = None) -> RederiveReport:
    """Recompute onset rate, reconciled tempo and feel of every catalog track from its audio.

    Tracks already derived at ``RHYTHM_VERSION`` are skipped unless ``force``; each track
    is committed on its own, so an interrupted run resumes where it stopped. sample_rate:
    the rate ingestion analysed at (the music encoder's), so both give the same numbers.
    ``total(n)`` is called once with the number of tracks, ``progress(track, outcome)``
    once per track with "done", "changed", "skipped" or "failed: <reason>".
    """
    report = RederiveReport()
    with session_scope(database_url) as s:
        ids = list(s.scalars(select(Track.id).order_by(Track.id)))
    if total:
        total(len(ids))
    for track_id in ids:
        with session_scope(database_url) as s:
            track = s.get(Track, track_id)
            if track is None:  # deleted meanwhile
                continue
            if rhythm_is_current(track) and not force:
                report.skipped += 1
                outcome = "skipped"
            else:
                try:
                    excerpt = load_tempo_excerpt(Path(track.path), sample_rate)
                except (UserError, OSError) as exc:
                    reason = _reason(exc) if isinstance(exc, UserError) else "audio file missing"
                    report.failed.append((track.path, reason))
                    outcome = f"failed: {reason}"
                else:
                    before = track.tempo_bpm
                    set_rhythm_facts(track, excerpt, sample_rate)
                    report.done += 1
                    outcome = "done"
                    if before != track.tempo_bpm:
                        report.changed += 1
                        outcome = "changed"
            if progress:
                progress(track, outcome)
    return report


def _reason(exc: UserError) -> str:
    """Why a catalog file was skipped, in words about audio (user messages speak of videos)."""
    from core.errors import CorruptMedia, UnsupportedMedia

    if isinstance(exc, CorruptMedia):
        return "damaged or unreadable audio"
    if isinstance(exc, UnsupportedMedia):
        return "not an audio file this catalog can read"
    return exc.user_message if exc.user_message != UserError.user_message else str(exc)


def load_analysis_audio(path: Path, sr: int, window_s: float, max_segments: int = 8,
                        tempo_seconds: float = 30.0) -> tuple[float, list[np.ndarray], np.ndarray]:
    """What the analysis of one track reads: (duration s, windows, tempo excerpt).

    Up to ``max_segments`` windows of ``window_s`` seconds spread across the track are
    decoded by seeking, plus one ``tempo_seconds`` excerpt from the middle; a long track
    costs no more than a short one. Short tracks are decoded whole. Arrays: float32 mono at sr.
    """
    from core.media import audio_duration, load_audio

    try:
        duration = float(audio_duration(path))
    except UserError:
        duration = 0.0
    if duration <= 0 or duration <= max_segments * window_s + tempo_seconds:
        audio = load_audio(path, sr)
        if audio.size < sr:  # under a second: nothing to recommend
            raise UserError("shorter than one second", user_message="too short to be music")
        duration = len(audio) / sr
        windows = [audio[s:e] for s, e in segment_windows(len(audio), sr, window_s, max_segments)]
        mid = len(audio) // 2
        half = int(tempo_seconds * sr / 2)
        return duration, windows, audio[max(0, mid - half): mid + half]
    spans = segment_windows(int(duration * sr), sr, window_s, max_segments)
    windows = [load_audio(path, sr, offset_s=s / sr, max_seconds=window_s) for s, _ in spans]
    excerpt = load_tempo_excerpt(path, sr, tempo_seconds, duration=duration)
    if not any(w.size for w in windows):
        raise UserError("no audio decoded", user_message="no audio could be decoded")
    return duration, [w for w in windows if w.size], excerpt


def load_tempo_excerpt(path: Path, sr: int, tempo_seconds: float = 30.0, *,
                       duration: float | None = None) -> np.ndarray:
    """The middle ``tempo_seconds`` of a track, float32 mono at ``sr`` Hz (whole if shorter)."""
    from core.media import audio_duration, load_audio

    if duration is None:
        try:
            duration = float(audio_duration(path))
        except UserError:
            duration = 0.0
    if duration <= tempo_seconds:  # short, or a length the header doesn't state: decode it all
        audio = load_audio(path, sr)
        mid, half = len(audio) // 2, int(tempo_seconds * sr / 2)
        return audio[max(0, mid - half): mid + half]
    return load_audio(path, sr, offset_s=max(0.0, duration / 2 - tempo_seconds / 2), max_seconds=tempo_seconds)
