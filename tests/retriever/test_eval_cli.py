"""`musechat eval retrieval`: the stable JSON contract, on media the test writes itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conversation.sample_media import write_catalog, write_clip

pytestmark = pytest.mark.slow


_DATA: dict[str, str] = {}


def musechat(*args: str) -> subprocess.CompletedProcess:
    # One data directory for the module: the pool's features are computed once, then reused.
    env = {**os.environ, "MUSECHAT_TORCH_THREADS": "1", **_DATA}
    return subprocess.run([sys.executable, "-c", "from core.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    _DATA["MUSECHAT_DATA_DIR"] = str(root / "data")
    music = write_catalog(root / "music")
    (root / "clips").mkdir()
    rows = []
    tracks = sorted(music.glob("*.wav"))
    for i, track in enumerate(tracks[:4]):
        write_clip(root / "clips" / f"c{i}.mp4", seconds=2.0 + 0.5 * i)
        row = {"id": f"p{i}", "video": f"clips/c{i}.mp4", "track": f"copies/{track.name}"}
        if i % 2:
            row |= {"previous": f"music/{tracks[-1].name}", "prompt": "calmer, no drums"}
        rows.append(row)
    # A copied file still matches its pool entry by content hash.
    (root / "copies").mkdir()
    for t in tracks[:4]:
        shutil.copy(t, root / "copies" / t.name)
    path = root / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_contract_with_catalog_dir(pairs_file):
    result = musechat("eval", "retrieval", "--pairs", str(pairs_file), "--catalog-dir",
                      str(pairs_file.parent / "music"), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    pool = len(list((pairs_file.parent / "music").glob("*.wav")))
    assert out["pool_size"] == pool and out["n"] == 4
    for turn in ("turn1", "turn2"):
        assert set(out[turn]) == {"R@1", "R@5", "R@10", "MedR", "MeanR"}
        assert 1 <= out[turn]["MedR"] <= pool
    assert 0 <= out["SR@10"] <= 1
    assert out["random"] == {"R@1": round(1 / pool, 4), "R@5": round(5 / pool, 4), "R@10": 1.0}


@pytest.mark.parametrize("baseline", ["random", "popularity", "video-only", "text-only"])
def test_baselines(pairs_file, baseline):
    result = musechat("eval", "retrieval", "--pairs", str(pairs_file), "--catalog-dir",
                      str(pairs_file.parent / "music"), "--baseline", baseline, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["baseline"] == baseline and out["n"] == 4 and "turn2" in out


def test_track_outside_the_pool_is_a_clear_error(pairs_file, tmp_path):
    bad = tmp_path / "pairs.jsonl"
    lines = pairs_file.read_text().splitlines()
    row = json.loads(lines[0])
    row["video"] = str(pairs_file.parent / row["video"])
    row["track"] = str(pairs_file.parent / "clips" / "c0.mp4")  # not music, not in the pool
    bad.write_text(json.dumps(row) + "\n")
    result = musechat("eval", "retrieval", "--pairs", str(bad), "--catalog-dir",
                      str(pairs_file.parent / "music"), "--json")
    assert result.returncode == 1
    assert "not in the candidate pool" in result.stderr and "Traceback" not in result.stderr
