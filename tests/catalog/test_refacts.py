"""`musechat catalog refacts`: existing tracks get the reconciled tempo, feel and provenance
that ingestion now gives; resumable; a missing file is reported, the rest are done."""

from __future__ import annotations

import json
import sqlite3

import pytest
import soundfile as sf

from core.config import get_settings
from tests.catalog.test_ingest import musechat
from tests.catalog.test_tempo import CLICKS, KICK_AND_OFFBEAT_HATS, SR, drum_loop

pytestmark = pytest.mark.slow


def listed() -> dict[str, dict]:
    out = musechat("catalog", "list", "--json")
    assert out.returncode == 0, out.stderr
    return {t["title"]: t for t in map(json.loads, out.stdout.splitlines())}


def test_refacts_rederives_old_tracks_like_ingestion_does(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    sf.write(music / "ballad70.wav", drum_loop(70, KICK_AND_OFFBEAT_HATS, seconds=20), SR)
    sf.write(music / "click120.wav", drum_loop(120, CLICKS, seconds=20), SR)
    added = musechat("catalog", "add", str(music))
    assert added.returncode == 0 and "added 2" in added.stderr, added.stderr

    fresh = listed()
    ballad = fresh["Ballad70"]
    assert abs(ballad["tempo_bpm"] - 70) / 70 < 0.04 and ballad["tempo_feel"] == "slow"
    assert abs(ballad["tempo_raw_bpm"] - 140) / 140 < 0.04  # the beat tracker's double time, kept
    assert ballad["tags"][0] == "slow"  # the feel word leads the shown tags
    assert abs(fresh["Click120"]["tempo_bpm"] - 120) / 120 < 0.04 and fresh["Click120"]["tempo_feel"] == "fast"
    shown = json.loads(musechat("catalog", "show", str(ballad["id"])).stdout)
    assert shown["tempo_basis"]["factor"] == 0.5 and shown["tempo_basis"]["reason"]

    current = musechat("catalog", "refacts")
    assert current.returncode == 0 and "derived 0" in current.stderr and "already current 2" in current.stderr

    # the catalog as it was before reconciliation: raw numbers, no onset rate, no provenance
    db = sqlite3.connect(get_settings().data_dir / "musechat.db")
    db.execute("UPDATE tracks SET tempo_bpm = tempo_raw_bpm, onset_rate = NULL, tempo_basis = NULL, "
               "tempo_feel = CASE WHEN tempo_raw_bpm >= 120 THEN 'fast' ELSE 'moderate' END")
    db.commit()
    assert abs(listed()["Ballad70"]["tempo_bpm"] - 140) < 6
    redone = musechat("catalog", "refacts")
    assert redone.returncode == 0, redone.stderr
    assert "derived 2 (tempo changed for 1)" in redone.stderr and "failed 0" in redone.stderr
    again = listed()
    for title in fresh:
        for key in ("tempo_bpm", "tempo_feel", "tempo_raw_bpm", "onset_rate", "tags"):
            assert again[title][key] == fresh[title][key], (title, key)

    (music / "click120.wav").unlink()
    forced = musechat("catalog", "refacts", "--force")
    assert forced.returncode == 0 and "derived 1" in forced.stderr and "failed 1" in forced.stderr
    assert "click120.wav" in "".join(forced.stderr.split())  # rich wraps long paths
    assert "audio file missing" in forced.stderr
