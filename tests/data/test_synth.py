"""Conversation synthesis on a small catalog in the test's own SQLite database."""

from __future__ import annotations

import json
import random
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from core.data import phrasing
from core.data.synth import (
    CatalogTrack,
    SceneClip,
    build_conversations,
    choose_facts,
    facts_between,
    load_catalog,
    synthesise,
    write_preference,
)
from core.db import migrate
from core.db.models import Track
from core.db.session import session_scope

# Tag profiles a small catalog is drawn from: (mtt tags, msd tags, bpm range, vocal prob).
PROFILES = {
    "piano": ({"piano": 0.8, "classical": 0.6, "slow": 0.6, "soft": 0.5, "quiet": 0.4},
              {"instrumental": 0.6, "beautiful": 0.4, "sad": 0.4}, (60, 85), 0.1),
    "metal": ({"guitar": 0.8, "rock": 0.7, "metal": 0.7, "loud": 0.7, "fast": 0.6, "drums": 0.6, "vocals": 0.7},
              {"heavy metal": 0.6, "hard rock": 0.5, "male vocalists": 0.6}, (130, 170), 0.9),
    "techno": ({"techno": 0.8, "electronic": 0.8, "beat": 0.7, "synth": 0.6, "fast": 0.5, "dance": 0.5},
               {"electronic": 0.7, "dance": 0.6, "party": 0.4}, (120, 140), 0.2),
    "orchestra": ({"strings": 0.8, "classical": 0.7, "violin": 0.6, "cello": 0.4, "choir": 0.3},
                  {"instrumental": 0.5, "ambient": 0.3}, (80, 110), 0.3),
    "ambient": ({"ambient": 0.8, "slow": 0.6, "quiet": 0.6, "synth": 0.4, "new age": 0.5},
                {"ambient": 0.7, "chillout": 0.6, "chill": 0.5}, (60, 90), 0.05),
    "pop": ({"pop": 0.7, "female": 0.6, "vocals": 0.7, "singing": 0.6, "guitar": 0.3, "drums": 0.4},
            {"pop": 0.7, "female vocalists": 0.7, "happy": 0.5, "catchy": 0.5}, (100, 125), 0.95),
}
ALBUMS = ["The Battle for Wesnoth OST", "Warzone 2100", "Nexuiz", "SuperTux Soundtrack"]


def make_catalog(url: str, n: int = 36, seed: int = 7, extra: list[dict] | None = None) -> list[str]:
    """Insert ``n`` plausible tracks (plus ``extra`` rows) into the database at ``url``."""
    migrate.upgrade(url)
    rng = random.Random(seed)
    names = sorted(PROFILES)
    hashes = []
    with session_scope(url) as s:
        for i in range(n):
            mtt, msd, (lo, hi), vocal = PROFILES[names[i % len(names)]]
            jitter = lambda d: {k: round(min(1.0, max(0.0, v + rng.uniform(-0.15, 0.15))), 3)  # noqa: E731
                                for k, v in d.items()}
            h = f"{i:064x}"
            s.add(Track(content_hash=h, path=f"/catalog/{names[i % len(names)]}_{i}.ogg",
                        title=f"Track {i}", artist=f"Artist {i % 9}", album=ALBUMS[i % len(ALBUMS)],
                        duration_s=rng.uniform(60, 300), source="test", tags={"mtt": jitter(mtt), "msd": jitter(msd)},
                        tempo_bpm=rng.uniform(lo, hi), vocal_prob=min(1.0, max(0.0, vocal + rng.uniform(-0.05, 0.05)))))
            hashes.append(h)
        for row in extra or []:
            s.add(Track(**row))
            hashes.append(row["content_hash"])
    return hashes


def _track(**kw) -> CatalogTrack:
    base = dict(content_hash="t", title="T", artist=None, album=None, source="x", path="/t.ogg",
                duration_s=120.0, tempo_bpm=100.0, vocal_prob=0.5, tags={})
    base.update(kw)
    return CatalogTrack(**base)


def test_vocals_fact_is_said_in_words():
    t = _track(content_hash="t", vocal_prob=0.1)
    p = _track(content_hash="p", vocal_prob=0.9)
    facts = facts_between(t, p)
    assert ("vocals.none", {}) in facts
    vocal_texts = [ph.text for ph in phrasing.PHRASES["vocals.none"]]
    for i in range(60):
        rng = random.Random(i)
        pref = write_preference([("vocals.none", {})], ["train", "val", "test"][i % 3], rng, noise=False)
        assert pref.facts == {"vocals": "none"}
        assert any(v.lower() in pref.text.lower() for v in vocal_texts), pref.text
    # And the other way round.
    assert ("vocals.with", {}) in facts_between(p, t)


def test_tempo_tags_and_metadata_facts():
    t = _track(content_hash="t", tempo_bpm=150, tags={"piano": 0.7, "drums": 0.05}, album="The Battle for Wesnoth OST",
               artist="Someone")
    p = _track(content_hash="p", tempo_bpm=100, tags={"piano": 0.1, "drums": 0.8}, album="Nexuiz", artist="Other")
    facts = dict(facts_between(t, p))
    assert facts["tempo.faster"] == {"bpm": "150"}
    assert facts["more.instrument"] == {"x": "piano", "tag": "piano"}
    assert facts["less.instrument"] == {"x": "drums", "tag": "drums"}
    assert facts["album"] == {"album": "Battle for Wesnoth"}
    assert facts["artist"] == {"artist": "Someone"}
    assert "tempo.slower" in dict(facts_between(p, t))
    # Equal tracks differ in nothing: no preference can be written.
    assert facts_between(t, t) == []
    rng = random.Random(0)
    for _ in range(50):
        chosen = choose_facts(facts_between(t, p), rng)
        assert 1 <= len(chosen) <= 3
        assert sum(k.startswith(("more.", "less.")) for k, _ in chosen) <= 2


def test_every_fact_has_wordings_in_every_group():
    for key, phrases in phrasing.PHRASES.items():
        for form in ("d", "c"):
            groups = {p.group for p in phrases if p.form == form}
            assert groups == {"train", "val", "test"}, (key, form)
    for form in ("d", "c"):
        assert {f.group for f in phrasing.FRAMES if f.form == form} == {"train", "val", "test"}
    assert not phrasing.templates_in("test") & phrasing.templates_in("train")


def _read(out: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]


def test_synth_from_sqlite_holds_out_tracks_and_phrasings(tmp_path, sqlite_url):
    make_catalog(sqlite_url)
    out = tmp_path / "conv"
    stats = build_conversations(out, seed=3, per_track=6, database_url=sqlite_url)
    train, val, test = (_read(out, s) for s in ("train", "val", "test"))
    assert train and val and test
    assert stats["splits"]["train"]["conversations"] == len(train)

    keys = {"id", "split", "video", "target", "turn1_pick", "preference", "template", "facts"}
    for split, rows in (("train", train), ("val", val), ("test", test)):
        for r in rows:
            assert keys <= set(r) and r["split"] == split
            assert r["target"] != r["turn1_pick"] and r["preference"].strip()
            assert r["video"] is None  # no scenes in this catalog
    # Tracks: no val/test track appears in training, as target or as pick.
    seen_in_train = {r["target"] for r in train} | {r["turn1_pick"] for r in train}
    assert not seen_in_train & {r["target"] for r in test}
    assert not seen_in_train & {r["target"] for r in val}
    assert not {r["target"] for r in val} & {r["target"] for r in test}
    # Phrasings: test frames and held-out phrases never appear in training.
    train_ids = {r["template"] for r in train} | {p for r in train for p in r["phrases"]}
    assert not train_ids & phrasing.templates_in("test")
    assert not train_ids & phrasing.templates_in("val")
    assert {r["template"] for r in test} <= phrasing.templates_in("test")
    # Many phrasings in training, several per target track.
    assert stats["splits"]["train"]["templates"] >= 8
    assert max(sum(r["target"] == t for r in train) for t in {r["target"] for r in train}) == 6
    # Facts are what the preference says: a vocals fact comes with a vocals phrase.
    for r in train + val + test:
        if "vocals" in r["facts"]:
            assert any(p.startswith(f"vocals.{r['facts']['vocals']}.") for p in r["phrases"])
        for tag in r["facts"].get("more", []):
            assert any(p.startswith("more.") for p in r["phrases"]), r

    # The evaluation contract for the test split: paths relative to the file.
    pairs = [json.loads(line) for line in (out / "test_pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == len(test)
    with session_scope(sqlite_url) as s:
        path_of = {t.content_hash: t.path for t in s.query(Track)}
    for row, conv in zip(pairs, test):
        assert set(row) == {"id", "video", "track", "previous", "prompt"}
        assert (out / row["track"]).resolve() == Path(path_of[conv["target"]]).resolve()
        assert (out / row["previous"]).resolve() == Path(path_of[conv["turn1_pick"]]).resolve()
        assert row["prompt"] == conv["preference"] and row["video"] == "neutral.mp4"
    with av.open(str(out / "neutral.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) > 10

    # Deterministic with a seed; another seed gives other data.
    again = tmp_path / "again"
    build_conversations(again, seed=3, per_track=6, database_url=sqlite_url)
    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "test_pairs.jsonl"):
        assert (again / name).read_bytes() == (out / name).read_bytes()
    other = tmp_path / "other"
    build_conversations(other, seed=4, per_track=6, database_url=sqlite_url)
    assert (other / "train.jsonl").read_bytes() != (out / "train.jsonl").read_bytes()


def test_scene_clips_follow_the_split_rules(tmp_path, sqlite_url):
    hw = {"content_hash": "f" * 64, "path": "/hw/theme.ogg", "title": "Theme", "artist": None,
          "album": "Hedgewars", "duration_s": 90.0, "source": "hedgewars-data",
          "tags": {"mtt": {"guitar": 0.5, "fast": 0.5}, "msd": {"rock": 0.4}}, "tempo_bpm": 120.0,
          "vocal_prob": 0.1}
    hashes = make_catalog(sqlite_url, extra=[hw])
    tracks = load_catalog(sqlite_url)
    scene_track = hashes[5]
    scenes = {
        scene_track: [SceneClip(tmp_path / "st.mp4", True)],
        hw["content_hash"]: [SceneClip(tmp_path / "hw.mp4", False)],
    }
    convs = synthesise(tracks, scenes, seed=1, per_track=4)
    train_targets = {c.target for c in convs["train"]}
    # The training scene's track trains with its clip.
    assert scene_track in train_targets
    assert all(c.video == str(tmp_path / "st.mp4") for c in convs["train"] if c.target == scene_track)
    # The Hedgewars track and its clip stay out of training entirely.
    hw_hash = hw["content_hash"]
    assert all(hw_hash not in (c.target, c.turn1_pick) for c in convs["train"])
    assert all(c.video != str(tmp_path / "hw.mp4") for c in convs["train"])
    held = [c for s in ("val", "test") for c in convs[s] if c.target == hw_hash]
    assert held and all(c.video == str(tmp_path / "hw.mp4") for c in held)


def test_data_synth_cli(tmp_path):
    from core.cli import app
    from core.config import get_settings

    make_catalog(get_settings().sqlalchemy_url, n=24)
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["data", "synth", "--out", str(out), "--seed", "2", "--per-track", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["train"]["conversations"] == len(_read(out, "train"))
    assert (out / "stats.json").is_file() and (out / "test_pairs.jsonl").is_file()


def test_data_synth_refuses_an_empty_catalog(tmp_path, sqlite_url):
    from core.data.synth import EmptyCatalog

    migrate.upgrade(sqlite_url)
    with pytest.raises(EmptyCatalog, match="catalog demo"):
        build_conversations(tmp_path / "x", database_url=sqlite_url)
