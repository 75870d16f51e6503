"""Catalog operations shared by the CLI, the engine and the workers."""

from __future__ import annotations

from core.catalog.analysis import track_tags
from core.config import Settings
from core.db.models import Track


def prepare_database() -> None:
    """Create or upgrade the schema (commands that write the catalog may be the first run)."""
    from core.db import migrate

    migrate.upgrade()


def load_music_encoder(settings: Settings):
    from core.encoders import load_encoders

    return load_encoders(settings, parts=("music",)).music


def track_summary(t: Track) -> dict:
    """The public view of a track, as front ends and `--json` outputs show it."""
    return {
        "id": t.id,
        "title": t.title,
        "artist": t.artist,
        "album": t.album,
        "duration_s": t.duration_s,
        "duration": f"{int(t.duration_s) // 60}:{int(t.duration_s) % 60:02d}",
        "tempo_bpm": t.tempo_bpm,  # reconciled (core.catalog.tempo); the beat tracker's own is tempo_raw_bpm
        "tempo_feel": t.tempo_feel,
        "tempo_raw_bpm": t.tempo_raw_bpm,
        "onset_rate": t.onset_rate,
        "vocals": None if t.vocal_prob is None else t.vocal_prob >= 0.5,
        "vocal_prob": t.vocal_prob,
        "tags": track_tags(t),
        "licence": t.licence,
        "attribution": t.attribution,
        "source": t.source,
    }


def refresh_index(settings: Settings) -> str:
    """Rebuild the search index if a trained retriever is available; say what happened."""
    from core.retriever.index import ensure_index

    return ensure_index(settings)
