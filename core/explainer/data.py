"""Training and test examples for the explainer, from the catalog's real track facts.

Tracks come from SQL (``core.db.models.Track``); their pooled music features from
``<catalog_dir>/features/<content_hash>.npz`` (key ``pooled``, float32 [D]). Tracks are
split by a stable hash of title and artist, so a rebuilt catalog keeps its split; the test
examples use held-out tracks *and* held-out phrasings (``references.TEST_TEMPLATES``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.catalog.tempo import TEMPO_TAGS
from core.config import Settings
from core.explainer.facts import PickContext, TrackFacts
from core.explainer.references import (
    TEST_TEMPLATES,
    TRAIN_TEMPLATES,
    reference,
    sample_video_facts,
    synth_preference,
)

TEST_FRACTION = 0.2
MAX_TAGS = 6
MIN_TAG_PROB = 0.1
# Era tags are the taggers' guesses about recording style, not about these tracks' dates;
# the tagger's tempo tags may contradict the reconciled tempo, which speaks for itself.
_SKIP_TAGS = {"00s", "90s", "80s", "70s", "60s", "oldies"} | TEMPO_TAGS


@dataclass
class CatalogTrack:
    facts: TrackFacts
    embedding: np.ndarray  # [D] float32 pooled music features


@dataclass
class Example:
    """One pick to explain, with its reference explanations (several for test examples)."""

    context: PickContext
    references: list[str]


def top_tags(tags: dict[str, dict[str, float]] | None, k: int = MAX_TAGS,
             min_prob: float = MIN_TAG_PROB) -> list[str]:
    """Most confident tags across tag vocabularies ({"mtt": {tag: p}, "msd": {...}}), lower-case."""
    merged: dict[str, float] = {}
    for vocab in (tags or {}).values():
        for tag, p in vocab.items():
            key = tag.lower().strip()
            if key and key not in _SKIP_TAGS:
                merged[key] = max(merged.get(key, 0.0), float(p))
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    return [t for t, p in ranked if p >= min_prob][:k]


def features_path(settings: Settings, content_hash: str) -> Path:
    from core.catalog.store import FeatureStore  # the one place that lays out feature files

    return FeatureStore(settings.catalog_dir).path(content_hash)


def load_pooled(path: Path) -> np.ndarray:
    """[D] float32 pooled music features from one feature file."""
    with np.load(path) as data:
        return np.asarray(data["pooled"], dtype=np.float32)


def load_catalog(settings: Settings) -> list[CatalogTrack]:
    """Every catalog track that has music features, ordered by id."""
    from sqlalchemy import select

    from core.db.models import Track
    from core.db.session import session_scope

    out = []
    with session_scope() as session:
        for track in session.scalars(select(Track).order_by(Track.id)):
            path = features_path(settings, track.content_hash)
            if not path.exists():
                continue
            facts = TrackFacts(
                track_id=track.id, title=track.title, artist=track.artist, tags=top_tags(track.tags),
                tempo_bpm=track.tempo_bpm, instrumental=track.instrumental,
                duration_s=track.duration_s, licence=track.licence)
            out.append(CatalogTrack(facts, load_pooled(path)))
    return out


def catalog_ready(settings: Settings) -> bool:
    """Has the catalog build finished (its marker file exists)?"""
    return (settings.data_dir / "CATALOG_READY").exists()


def is_test_track(facts: TrackFacts, test_fraction: float = TEST_FRACTION) -> bool:
    key = f"{facts.title}\x1f{facts.artist or ''}".lower().encode()
    return int(hashlib.sha1(key).hexdigest()[:8], 16) / 0xFFFFFFFF < test_fraction


def split_tracks(tracks: list[CatalogTrack]) -> tuple[list[CatalogTrack], list[CatalogTrack]]:
    """(train, test) tracks; a track's side never changes between runs."""
    train = [t for t in tracks if not is_test_track(t.facts)]
    test = [t for t in tracks if is_test_track(t.facts)]
    return train, test


def train_examples(tracks: list[CatalogTrack], per_track: int = 8, seed: int = 0) -> list[Example]:
    """``per_track`` examples per track: sampled video facts and preferences, one
    train-template reference each."""
    rng = random.Random(seed)
    out = []
    for track in tracks:
        for _ in range(per_track):
            video = sample_video_facts(rng)
            pref = synth_preference(track.facts, rng, "train")
            ref = reference(track.facts, video, pref, rng, rng.choice(TRAIN_TEMPLATES))
            ctx = PickContext(track.facts, track.embedding, video, pref.text if pref else None)
            out.append(Example(ctx, [ref]))
    return out


def heldout_examples(tracks: list[CatalogTrack], per_track: int = 2, seed: int = 1) -> list[Example]:
    """Examples whose references are written in every held-out template."""
    rng = random.Random(seed)
    out = []
    for track in tracks:
        for _ in range(per_track):
            video = sample_video_facts(rng)
            pref = synth_preference(track.facts, rng, "test")
            refs = [reference(track.facts, video, pref, rng, t) for t in TEST_TEMPLATES]
            ctx = PickContext(track.facts, track.embedding, video, pref.text if pref else None)
            out.append(Example(ctx, refs))
    return out
