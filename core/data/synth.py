"""Synthesised two-turn conversations from the catalog, as the paper built its data.

Each conversation: a true track T, a turn-1 pick P != T (a plausible miss: a track
with similar tags, one from the same game, or a random one), and the user's
preference, written from how T differs from P (:func:`facts_between`) in one of many
phrasings (:mod:`core.data.phrasing`). A video goes with it when T has a real scene
clip (:mod:`core.data.scenes`, :mod:`core.data.hedgewars`).

Splits hold out tracks and phrasings:

* tracks: each track belongs to one split; a train conversation uses only train
  tracks (as T and as P), so no val/test track is ever seen in training. Tracks with
  a training scene clip (SuperTux, Wesnoth) always go to train; tracks from
  ``hedgewars-data`` (the development evaluation) always go to val/test, so neither
  their music nor their scenes reach training.
* phrasings: val and test conversations use only their own held-out frames, and their
  own held-out phrases most of the time (:func:`core.data.phrasing.pick_phrase`).

Outputs (:func:`write_dataset`): ``train.jsonl``, ``val.jsonl``, ``test.jsonl`` (one
conversation per line), ``stats.json``, and ``test_pairs.jsonl`` in the evaluation
contract (``{"id", "video", "track", "previous", "prompt"}``, paths relative to the
file's folder; conversations without a scene get one neutral gradient clip).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.data import phrasing
from core.errors import MuseChatError

Progress = Callable[[str], None]

SPLITS = ("train", "val", "test")
# Share of (freely assignable) tracks held out for val and test.
VAL_SHARE, TEST_SHARE = 0.10, 0.20
HEDGEWARS_SOURCE = "hedgewars-data"
NEUTRAL_CLIP = "neutral.mp4"

# Tags a user would name, as they would say them. Instruments take "more/less X";
# genres "more X / not so X". Vocal tags are left out: vocals are their own fact.
INSTRUMENTS: dict[str, str] = {
    "piano": "piano", "guitar": "guitar", "drums": "drums", "strings": "strings", "violin": "violin",
    "cello": "cello", "flute": "flute", "harp": "harp", "harpsichord": "harpsichord", "sitar": "sitar",
    "synth": "synths", "acoustic": "acoustic instruments", "beat": "beats", "beats": "beats",
    "electronic": "electronic sounds", "electro": "electro", "choir": "choir",
}
GENRES: dict[str, str] = {
    "rock": "rock", "metal": "metal", "heavy metal": "heavy metal", "hard rock": "hard rock",
    "classical": "classical", "techno": "techno", "ambient": "ambient", "pop": "pop", "jazz": "jazz",
    "blues": "blues", "country": "country", "folk": "folk", "punk": "punk", "dance": "dance",
    "electronica": "electronica", "new age": "new age", "indie": "indie", "funk": "funk", "soul": "soul",
    "house": "house", "experimental": "experimental", "indian": "indian", "opera": "opera",
    "hip-hop": "hip-hop", "progressive rock": "prog rock", "alternative": "alternative",
}
# Mood axes as weighted tag sums (lower-case tags of both vocabularies).
ENERGY: dict[str, float] = {
    "fast": 1.0, "loud": 1.0, "beat": 0.5, "beats": 0.5, "techno": 0.7, "dance": 0.7, "metal": 1.0,
    "heavy metal": 1.0, "hard rock": 0.8, "rock": 0.6, "punk": 0.8, "drums": 0.4, "party": 0.6,
    "electro": 0.5, "slow": -1.0, "soft": -1.0, "quiet": -1.0, "ambient": -0.8, "chill": -0.8,
    "chillout": -0.8, "mellow": -0.8, "easy listening": -0.6, "new age": -0.6, "harp": -0.4,
    "classical": -0.3,
}
VALENCE: dict[str, float] = {
    "happy": 1.0, "catchy": 0.6, "party": 0.6, "pop": 0.4, "dance": 0.3, "country": 0.3, "fun": 0.6,
    "sad": -1.0, "weird": -0.4, "metal": -0.3, "heavy metal": -0.4, "ambient": -0.2,
    "experimental": -0.3,
}
# Thresholds for calling a difference: tag probabilities, tempo, mood z-scores, length.
TAG_MARGIN, TAG_FLOOR = 0.12, 0.2
TEMPO_RATIO, TEMPO_MIN_BPM = 1.10, 8.0
MOOD_Z = 0.75
LENGTH_RATIO = 1.8


class EmptyCatalog(MuseChatError):
    """Too few catalog tracks to synthesise conversations from."""


@dataclass
class CatalogTrack:
    """What synthesis reads of a catalog track (a detached copy of a ``Track`` row).

    ``tags``: lower-case tag -> probability, merged over the taggers' vocabularies.
    """

    content_hash: str
    title: str
    artist: str | None
    album: str | None
    source: str
    path: str
    duration_s: float
    tempo_bpm: float | None
    vocal_prob: float | None
    tags: dict[str, float] = field(default_factory=dict)
    energy: float = 0.0  # z-score over the catalog
    valence: float = 0.0


@dataclass(frozen=True)
class SceneClip:
    """A real scene clip for a track; ``training`` is False for the evaluation scenes."""

    video: Path
    training: bool


def merge_tags(tags: dict[str, dict[str, float]] | None) -> dict[str, float]:
    """{"mtt": {...}, "msd": {...}} -> {lower-case tag: max probability}."""
    out: dict[str, float] = {}
    for vocab in (tags or {}).values():
        for tag, p in vocab.items():
            k = tag.lower()
            out[k] = max(out.get(k, 0.0), float(p))
    return out


def load_catalog(database_url: str | None = None) -> list[CatalogTrack]:
    """Every track of the configured catalog (or ``database_url``), sorted by content hash."""
    from sqlalchemy import select

    from core.db.models import Track
    from core.db.session import session_scope

    with session_scope(database_url) as s:
        rows = s.scalars(select(Track).order_by(Track.content_hash)).all()
        tracks = [
            CatalogTrack(
                content_hash=t.content_hash, title=t.title, artist=t.artist, album=t.album,
                source=t.source, path=t.path, duration_s=t.duration_s, tempo_bpm=t.tempo_bpm,
                vocal_prob=t.vocal_prob, tags=merge_tags(t.tags),
            )
            for t in rows
        ]
    _score_moods(tracks)
    return tracks


def _score_moods(tracks: Sequence[CatalogTrack]) -> None:
    """Energy and valence as z-scores over the catalog, so "calmer" means calmer than
    this catalog's usual difference, whatever the taggers' scale."""
    for axis, weights in (("energy", ENERGY), ("valence", VALENCE)):
        raw = np.array([sum(w * t.tags.get(k, 0.0) for k, w in weights.items()) for t in tracks], np.float64)
        if len(raw) == 0:
            continue
        sd = float(raw.std()) or 1.0
        for t, v in zip(tracks, (raw - raw.mean()) / sd):
            setattr(t, axis, float(v))


# --------------------------------------------------------------------------- facts


def facts_between(t: CatalogTrack, p: CatalogTrack) -> list[tuple[str, dict]]:
    """Every describable way target ``t`` differs from pick ``p``, strongest first per kind.

    Output: (fact key, values) pairs; keys are the phrase keys of
    :mod:`core.data.phrasing` (``vocals.none``, ``tempo.faster``, ``more.instrument``,
    ``mood.calmer``, ``album``, ...); values fill the phrase (``x``, ``bpm``,
    ``album``, ``artist``) and name the fact (``tag``).
    """
    out: list[tuple[str, dict]] = []
    if t.vocal_prob is not None and p.vocal_prob is not None:
        if t.vocal_prob < 0.5 <= p.vocal_prob:
            out.append(("vocals.none", {}))
        elif p.vocal_prob < 0.5 <= t.vocal_prob:
            out.append(("vocals.with", {}))
    if t.tempo_bpm and p.tempo_bpm:
        hi, lo = max(t.tempo_bpm, p.tempo_bpm), min(t.tempo_bpm, p.tempo_bpm)
        if hi >= lo * TEMPO_RATIO and hi - lo >= TEMPO_MIN_BPM:
            out.append(("tempo.faster" if t.tempo_bpm > p.tempo_bpm else "tempo.slower",
                        {"bpm": str(int(round(t.tempo_bpm / 5.0) * 5))}))
    more, less = [], []
    for tag, said in {**INSTRUMENTS, **GENRES}.items():
        a, b = t.tags.get(tag, 0.0), p.tags.get(tag, 0.0)
        kind = "instrument" if tag in INSTRUMENTS else "genre"
        if a - b >= TAG_MARGIN and a >= TAG_FLOOR:
            more.append((a - b, kind, tag, said))
        elif b - a >= TAG_MARGIN and b >= TAG_FLOOR:
            less.append((b - a, kind, tag, said))
    seen_words: set[str] = set()
    for direction, items in (("more", more), ("less", less)):
        for _d, kind, tag, said in sorted(items, reverse=True):
            if said not in seen_words:  # "beat" and "beats" say the same
                seen_words.add(said)
                out.append((f"{direction}.{kind}", {"x": said, "tag": tag}))
    if t.energy - p.energy >= MOOD_Z:
        out.append(("mood.energetic", {}))
    elif p.energy - t.energy >= MOOD_Z:
        out.append(("mood.calmer", {}))
    if t.valence - p.valence >= MOOD_Z:
        out.append(("mood.happier", {}))
    elif p.valence - t.valence >= MOOD_Z:
        out.append(("mood.darker", {}))
    if t.duration_s and p.duration_s:
        if t.duration_s * LENGTH_RATIO <= p.duration_s:
            out.append(("duration.shorter", {}))
        elif p.duration_s * LENGTH_RATIO <= t.duration_s:
            out.append(("duration.longer", {}))
    album = short_album(t.album)
    if album and album != short_album(p.album):
        out.append(("album", {"album": album}))
    if t.artist and t.artist != p.artist and len(t.artist) <= 40:
        out.append(("artist", {"artist": t.artist}))
    return out


def short_album(album: str | None) -> str | None:
    """How a person names an album or game: "The Battle for Wesnoth OST" -> "Battle for Wesnoth"."""
    if not album:
        return None
    a = album.strip()
    for suffix in (" Original Soundtrack", " OST", " Soundtrack", " soundtrack", " Music", " music"):
        if a.endswith(suffix):
            a = a[: -len(suffix)]
    if a.lower().startswith("the "):
        a = a[4:]
    head, sep, _tail = a.partition(" songs:")  # "Frets on Fire songs: Muldjord"
    return (head if sep else a).strip() or None


# Relative weight of each fact kind when choosing what the user mentions.
_FACT_WEIGHT = {
    "vocals": 3.0, "tempo": 2.0, "more": 2.0, "less": 1.4, "mood": 2.0,
    "duration": 0.15, "album": 0.4, "artist": 0.35,
}


def choose_facts(cands: list[tuple[str, dict]], rng: random.Random) -> list[tuple[str, dict]]:
    """One to three facts the user mentions, weighted by kind (vocals most, length least).

    At most two "more"/"less" tags, and for the same kind the strongest come first.
    """
    if not cands:
        return []
    n = min(len(cands), rng.choices((1, 2, 3), weights=(0.35, 0.45, 0.2))[0])
    pool = list(cands)
    # Within a kind, earlier candidates are stronger: weigh them up.
    rank: Counter[str] = Counter()
    weights = []
    for key, _v in pool:
        kind = key.split(".")[0]
        weights.append(_FACT_WEIGHT[kind] / (1 + rank[kind]))
        rank[kind] += 1
    chosen: list[tuple[str, dict]] = []
    while pool and len(chosen) < n:
        i = rng.choices(range(len(pool)), weights=weights)[0]
        chosen.append(pool.pop(i))
        weights.pop(i)
        tags = sum(k.startswith(("more.", "less.")) for k, _ in chosen)
        if tags >= 2:  # a third tag makes a list, not a preference
            keep = [j for j, (k, _) in enumerate(pool) if not k.startswith(("more.", "less."))]
            pool, weights = [pool[j] for j in keep], [weights[j] for j in keep]
    order = list(_FACT_WEIGHT)
    return sorted(chosen, key=lambda kv: order.index(kv[0].split(".")[0]))


def facts_record(chosen: list[tuple[str, dict]], with_bpm: bool) -> dict:
    """The expressed facts as stored with the conversation, e.g.
    ``{"vocals": "none", "tempo": "slower", "more": ["piano"], "less": ["drums"]}``."""
    rec: dict = {}
    for key, v in chosen:
        kind, _, sub = key.partition(".")
        if kind == "vocals":
            rec["vocals"] = sub
        elif kind == "tempo":
            rec["tempo"] = sub
            if with_bpm:
                rec["bpm"] = int(v["bpm"])
        elif kind in ("more", "less"):
            rec.setdefault(kind, []).append(v["tag"])
        elif kind == "mood":
            rec.setdefault("mood", []).append(sub)
        elif kind == "duration":
            rec["duration"] = sub
        elif kind == "album":
            rec["album"] = v["album"]
        elif kind == "artist":
            rec["artist"] = v["artist"]
    return rec


@dataclass
class Preference:
    text: str
    frame: str
    phrases: list[str]
    facts: dict


def write_preference(chosen: list[tuple[str, dict]], group: str, rng: random.Random,
                     noise: bool = True) -> Preference:
    """Word the chosen facts with a frame and phrases of ``group``; optional casual noise."""
    frame = phrasing.pick_frame(rng, group)
    parts, ids = [], []
    with_bpm = False
    for key, values in chosen:
        ph = phrasing.pick_phrase(rng, key, frame.form, group)
        parts.append(phrasing.fill(ph.text, values))
        ids.append(ph.id)
        if key.startswith("tempo.") and rng.random() < 0.25:
            # Sometimes a number with the direction: "faster, around 140 bpm".
            bpm = phrasing.pick_phrase(rng, "tempo.bpm", frame.form, group)
            parts[-1] += ", " + phrasing.fill(bpm.text, values)
            ids.append(bpm.id)
            with_bpm = True
    body = phrasing.join(parts, frame.form, rng)
    text = frame.text.replace("{D}", body).replace("{C}", body)
    text = phrasing.add_noise(text, rng) if noise else text
    return Preference(text, frame.id, ids, facts_record(chosen, with_bpm))


# --------------------------------------------------------------------------- splits


def assign_splits(tracks: Sequence[CatalogTrack], seed: int, scene_hashes: set[str] = frozenset(),
                  eval_hashes: set[str] = frozenset()) -> dict[str, str]:
    """content hash -> split.

    Tracks with training scenes go to train; evaluation-scene and Hedgewars tracks to
    val/test (two in three to test); the rest are shuffled with ``seed`` and split
    ``1 - VAL_SHARE - TEST_SHARE`` / ``VAL_SHARE`` / ``TEST_SHARE`` (at least one
    track each for val and test when there are three or more tracks).
    """
    out: dict[str, str] = {}
    free = []
    held = []
    for t in sorted(tracks, key=lambda t: t.content_hash):
        if t.content_hash in eval_hashes or t.source == HEDGEWARS_SOURCE:
            held.append(t.content_hash)
        elif t.content_hash in scene_hashes:
            out[t.content_hash] = "train"
        else:
            free.append(t.content_hash)
    rng = random.Random(f"splits:{seed}")
    rng.shuffle(free)
    rng.shuffle(held)
    for i, h in enumerate(held):
        out[h] = "val" if i % 3 == 2 else "test"
    n = len(free) + len(out)
    n_test = max(1 if n >= 3 else 0, round(TEST_SHARE * n) - sum(v == "test" for v in out.values()))
    n_val = max(1 if n >= 3 else 0, round(VAL_SHARE * n) - sum(v == "val" for v in out.values()))
    n_test, n_val = min(n_test, len(free)), min(n_val, max(0, len(free) - n_test))
    for i, h in enumerate(free):
        out[h] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


# --------------------------------------------------------------------------- synthesis


@dataclass
class Conversation:
    id: str
    split: str
    video: str | None
    target: str
    turn1_pick: str
    preference: str
    template: str
    phrases: list[str]
    facts: dict
    pick_strategy: str

    def record(self) -> dict:
        return {
            "id": self.id, "split": self.split, "video": self.video, "target": self.target,
            "turn1_pick": self.turn1_pick, "preference": self.preference, "template": self.template,
            "phrases": self.phrases, "facts": self.facts, "pick_strategy": self.pick_strategy,
        }


def tag_vectors(tracks: Sequence[CatalogTrack]) -> np.ndarray:
    """[N, tags] unit vectors of the tracks' tag probabilities (what "similar tags" means)."""
    vocab = sorted({k for t in tracks for k in t.tags})
    col = {k: i for i, k in enumerate(vocab)}
    m = np.zeros((len(tracks), max(1, len(vocab))), np.float32)
    for i, t in enumerate(tracks):
        for k, p in t.tags.items():
            m[i, col[k]] = p
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)


class _PickPool:
    """Tracks a turn-1 pick may come from, with tag vectors for "similar" picks."""

    def __init__(self, tracks: Sequence[CatalogTrack]):
        self.tracks = list(tracks)
        self.vectors = tag_vectors(self.tracks)
        self.index = {t.content_hash: i for i, t in enumerate(self.tracks)}
        self.by_album: dict[str, list[int]] = defaultdict(list)
        for i, t in enumerate(self.tracks):
            self.by_album[t.album or t.source].append(i)

    def pick(self, t: CatalogTrack, rng: random.Random, vec: np.ndarray) -> tuple[CatalogTrack, str] | None:
        if len(self.tracks) < 2 and t.content_hash in self.index:
            return None
        strategy = rng.choices(("similar", "same_album", "random"), weights=(0.45, 0.2, 0.35))[0]
        me = self.index.get(t.content_hash, -1)
        if strategy == "similar":
            sims = self.vectors @ vec
            if me >= 0:
                sims[me] = -np.inf
            top = np.argsort(-sims, kind="stable")[: min(8, len(sims))]
            cand = [int(i) for i in top if int(i) != me]
        elif strategy == "same_album":
            cand = [i for i in self.by_album.get(t.album or t.source, []) if i != me]
        else:
            cand = []
        if not cand:
            strategy = "random"
            cand = [i for i in range(len(self.tracks)) if i != me]
        if not cand:
            return None
        return self.tracks[rng.choice(cand)], strategy


def synthesise(
    tracks: Sequence[CatalogTrack],
    scenes: dict[str, list[SceneClip]] | None = None,
    *,
    seed: int = 0,
    per_track: int = 80,
    noise: bool = True,
    progress: Progress | None = None,
) -> dict[str, list[Conversation]]:
    """Conversations per split (see the module docstring for the rules).

    Inputs: catalog tracks (moods scored, as :func:`load_catalog` returns them),
    scene clips by track content hash, the seed, conversations wanted per target
    track (each with a different pick or preference; fewer when the catalog cannot
    give that many), whether to add casual noise. Deterministic for the same inputs.
    """
    say = progress or (lambda _m: None)
    scenes = scenes or {}
    if tracks and all(t.energy == 0.0 and t.valence == 0.0 for t in tracks):
        _score_moods(tracks)
    scene_hashes = {h for h, clips in scenes.items() if any(c.training for c in clips)}
    eval_hashes = {h for h, clips in scenes.items() if any(not c.training for c in clips)}
    split_of = assign_splits(tracks, seed, scene_hashes, eval_hashes)
    by_split = {s: [t for t in tracks if split_of[t.content_hash] == s] for s in SPLITS}
    pools = {
        "train": _PickPool(by_split["train"]),
        "val": _PickPool(by_split["train"] + by_split["val"]),
        "test": _PickPool(tracks),
    }
    out: dict[str, list[Conversation]] = {s: [] for s in SPLITS}
    for split in SPLITS:
        pool = pools[split]
        for t in by_split[split]:
            rng = random.Random(f"conv:{seed}:{t.content_hash}")
            clips = [c for c in scenes.get(t.content_hash, []) if c.training or split != "train"]
            vec = _unit(t, pool)
            seen: set[tuple[str, str]] = set()
            made = 0
            for _attempt in range(per_track * 4):
                if made >= per_track:
                    break
                got = pool.pick(t, rng, vec)
                if got is None:
                    break
                p, strategy = got
                chosen = choose_facts(facts_between(t, p), rng)
                if not chosen:
                    continue
                pref = write_preference(chosen, split, rng, noise=noise)
                key = (p.content_hash, pref.text)
                if key in seen:
                    continue
                seen.add(key)
                video = str(clips[made % len(clips)].video) if clips else None
                cid = hashlib.sha1(f"{seed}:{t.content_hash}:{made}".encode()).hexdigest()[:12]
                out[split].append(Conversation(
                    f"{split}-{cid}", split, video, t.content_hash, p.content_hash, pref.text,
                    pref.frame, pref.phrases, pref.facts, strategy,
                ))
                made += 1
        say(f"{split}: {len(out[split])} conversations for {len(by_split[split])} tracks")
    return out


def _unit(t: CatalogTrack, pool: _PickPool) -> np.ndarray:
    if t.content_hash in pool.index:
        return pool.vectors[pool.index[t.content_hash]]
    # A target outside the pool (not possible with the split rules, kept for safety).
    return np.zeros(pool.vectors.shape[1], np.float32)


# --------------------------------------------------------------------------- scenes


def scene_clips_from_pairs(pairs_files: Iterable[Path], training: bool,
                           hash_file: Callable[[Path], str] | None = None) -> dict[str, list[SceneClip]]:
    """Scene clips by the content hash of their track, read from pairs files.

    Pairs files (``{"id", "video", "track"}``, paths relative to the file) from
    :func:`core.data.scenes.build_scene_pairs` (``training=True``) or the Hedgewars
    pairs (``training=False``). Missing files are skipped.
    """
    if hash_file is None:
        from core.catalog.ingest import file_hash as hash_file
    out: dict[str, list[SceneClip]] = defaultdict(list)
    hashes: dict[Path, str] = {}
    for pf in pairs_files:
        pf = Path(pf)
        if not pf.is_file():
            continue
        for line in pf.read_text().splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            video, track = (pf.parent / row["video"]).resolve(), (pf.parent / row["track"]).resolve()
            if not video.is_file() or not track.is_file():
                continue
            if track not in hashes:
                hashes[track] = hash_file(track)
            out[hashes[track]].append(SceneClip(video, training))
    return dict(out)


# --------------------------------------------------------------------------- output


def write_dataset(
    convs: dict[str, list[Conversation]],
    tracks: Sequence[CatalogTrack],
    out_dir: Path,
    *,
    seed: int,
    per_track: int,
    progress: Progress | None = None,
) -> dict:
    """Write the split files, ``test_pairs.jsonl`` and ``stats.json`` into ``out_dir``.

    ``test_pairs.jsonl``: per test conversation ``{"id", "video", "track", "previous",
    "prompt"}`` with paths relative to ``out_dir`` (``track``/``previous`` are the
    catalog's audio files; ``video`` the scene clip or the neutral clip
    ``out_dir/neutral.mp4``, rendered once). Returns the stats.
    """
    from core.data.scenes import render_gradient_clip

    say = progress or (lambda _m: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        _write_jsonl(out_dir / f"{split}.jsonl", [c.record() for c in convs[split]])

    by_hash = {t.content_hash: t for t in tracks}
    neutral = out_dir / NEUTRAL_CLIP
    rows = []
    for c in convs["test"]:
        video = Path(c.video) if c.video else neutral
        rows.append({
            "id": c.id,
            "video": _rel(video, out_dir),
            "track": _rel(Path(by_hash[c.target].path), out_dir),
            "previous": _rel(Path(by_hash[c.turn1_pick].path), out_dir),
            "prompt": c.preference,
        })
    if any(r["video"] == NEUTRAL_CLIP for r in rows) and not neutral.is_file():
        render_gradient_clip(neutral)
    _write_jsonl(out_dir / "test_pairs.jsonl", rows)

    stats = dataset_stats(convs, tracks, seed=seed, per_track=per_track)
    tmp = out_dir / "stats.json.tmp"
    tmp.write_text(json.dumps(stats, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, out_dir / "stats.json")
    say(f"wrote {sum(len(v) for v in convs.values())} conversations to {out_dir}")
    return stats


def dataset_stats(convs: dict[str, list[Conversation]], tracks: Sequence[CatalogTrack], *,
                  seed: int, per_track: int) -> dict:
    """Counts per split: conversations, target tracks, with video, facts, templates."""
    stats: dict = {"seed": seed, "per_track": per_track, "catalog_tracks": len(tracks), "splits": {}}
    for split in SPLITS:
        cs = convs[split]
        facts: Counter[str] = Counter()
        for c in cs:
            for k, v in c.facts.items():
                facts[k] += 1
                if k in ("more", "less", "mood"):
                    for x in v:
                        facts[f"{k}:{x}"] += 1
                elif k in ("vocals", "tempo", "duration"):
                    facts[f"{k}:{v}"] += 1
        stats["splits"][split] = {
            "conversations": len(cs),
            "target_tracks": len({c.target for c in cs}),
            "pick_tracks": len({c.turn1_pick for c in cs}),
            "with_video": sum(c.video is not None for c in cs),
            "videos": len({c.video for c in cs if c.video}),
            "templates": len({c.template for c in cs}),
            "phrases": len({p for c in cs for p in c.phrases}),
            "pick_strategy": dict(Counter(c.pick_strategy for c in cs)),
            "facts": dict(sorted(facts.items(), key=lambda kv: -kv[1])),
        }
    stats["held_out_templates"] = {
        g: sorted(phrasing.templates_in(g)) for g in ("val", "test")
    }
    return stats


def _rel(path: Path, base: Path) -> str:
    # Relative even across folders ("../../sources/..."), as the pairs contract wants.
    return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def build_conversations(
    out_dir: Path,
    *,
    seed: int = 0,
    per_track: int = 20,
    scene_pairs: Iterable[Path] = (),
    eval_pairs: Iterable[Path] = (),
    database_url: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Read the catalog, synthesise, write (see :func:`write_dataset`); returns the stats.

    ``scene_pairs``: training scene pairs files; ``eval_pairs``: evaluation scene
    pairs files (Hedgewars), whose clips are used only for val/test conversations.
    """
    say = progress or (lambda _m: None)
    tracks = load_catalog(database_url)
    if len(tracks) < 3:
        raise EmptyCatalog(f"the catalog has {len(tracks)} tracks; synthesis needs at least 3 "
                        "(build it with `musechat catalog demo` or `musechat catalog add`)")
    scenes: dict[str, list[SceneClip]] = defaultdict(list)
    for files, training in ((scene_pairs, True), (eval_pairs, False)):
        for h, clips in scene_clips_from_pairs(files, training).items():
            scenes[h].extend(clips)
    known = {t.content_hash for t in tracks}
    say(f"{len(tracks)} catalog tracks; scene clips for {len(known & set(scenes))} of them")
    convs = synthesise(tracks, dict(scenes), seed=seed, per_track=per_track, progress=say)
    return write_dataset(convs, tracks, out_dir, seed=seed, per_track=per_track, progress=say)
