"""The re-ranker's facts agree with the ones conversations are written from."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import torch

from core.data import synth
from core.retriever.facts import BASIS_DIM, FACT_KEYS, fact_basis, fact_matrix, mood_scale, stated_facts

TAGS = ["piano", "guitar", "drums", "rock", "ambient", "fast", "slow", "happy", "sad", "beat", "beats",
        "techno", "metal", "strings"]


def random_tracks(n: int, seed: int = 0) -> list[SimpleNamespace]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tags = {"mtt": {t: rng.random() for t in rng.sample(TAGS, 6)},
                "msd": {t.capitalize(): rng.random() for t in rng.sample(TAGS, 3)}}
        out.append(SimpleNamespace(
            content_hash=f"h{i:03d}", title=f"T{i}", artist=rng.choice([None, "Ann", "Bo", "x" * 50]),
            album=rng.choice([None, "The Game OST", "Game", "Other Game Soundtrack"]), source="test",
            path=f"/{i}.ogg", duration_s=rng.choice([30.0, 60.0, 200.0, 400.0]),
            tempo_bpm=rng.choice([None, 70.0, 76.0, 90.0, 140.0]), vocal_prob=rng.choice([None, 0.1, 0.6, 0.9]),
            tags=tags))
    return out


def test_fact_matrix_matches_the_facts_conversations_are_written_from():
    rows = random_tracks(40)
    cats = [synth.CatalogTrack(r.content_hash, r.title, r.artist, r.album, r.source, r.path, r.duration_s,
                               r.tempo_bpm, r.vocal_prob, synth.merge_tags(r.tags)) for r in rows]
    synth._score_moods(cats)
    basis = fact_basis(rows)
    assert basis.shape == (40, BASIS_DIM)
    b = torch.from_numpy(basis)
    facts = fact_matrix(b[None].expand(len(rows), -1, -1), b, torch.from_numpy(mood_scale(basis)))
    checked = 0
    for i, prev in enumerate(cats):
        for j, cand in enumerate(cats):
            if i == j:
                continue
            want = {f"{k.split('.')[0]}.{v['x']}" if k.startswith(("more.", "less.")) else k
                    for k, v in synth.facts_between(cand, prev)}
            got = {FACT_KEYS[k] for k in np.flatnonzero(facts[i, j].numpy())}
            # A word said in one direction is not said again in the other ("beat"/"beats").
            assert want <= got and len(got - want) <= 1, (i, j, want, got)
            checked += len(want)
    assert checked > 500  # the pairs do differ in many ways


def test_unknown_tempo_or_vocals_state_no_fact():
    rows = random_tracks(2)
    rows[0].tempo_bpm, rows[1].tempo_bpm = None, 150.0
    rows[0].vocal_prob, rows[1].vocal_prob = 0.9, None
    b = torch.from_numpy(fact_basis(rows))
    f = fact_matrix(b[None, 1:], b[:1], torch.ones(2))[0, 0]
    for key in ("tempo.faster", "tempo.slower", "vocals.none", "vocals.with"):
        assert f[FACT_KEYS.index(key)] == 0


def test_stated_facts_read_a_conversation_record():
    record = {"facts": {"tempo": "faster", "more": ["beat", "piano"], "less": ["rock"], "mood": ["calmer"],
                        "vocals": "none", "album": "Nexuiz", "duration": "shorter"}}
    keys = {FACT_KEYS[i] for i in stated_facts(record)}
    assert keys == {"tempo.faster", "more.beats", "more.piano", "less.rock", "mood.calmer", "vocals.none",
                    "album", "duration.shorter"}
    assert stated_facts({"preference": "no facts recorded"}) == ()
