"""`musechat data scenes`: builds the chosen games from DATA_DIR/sources and says what it did."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from core.cli import app
from tests.data.test_blobwars import _fake_blobwars
from tests.data.test_fillets import _fake_fillets


def test_data_scenes_builds_the_chosen_games(tmp_path):
    sources = tmp_path / "data/sources"  # DATA_DIR is tmp_path/data in tests
    _fake_fillets(sources)
    _fake_blobwars(sources)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["data", "scenes", "--no-fetch", "--out", str(out),
                                      "--game", "fillets", "--game", "blobwars"])
    assert result.exit_code == 0, result.output
    assert "fillets: 1 pairs, 1 distinct tracks" in result.output
    assert "music from blobwars-data" in result.output
    rows = [json.loads(line) for line in (out / "blobwars/pairs.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["blobwars/caves1"]
    assert all(Path(out / "blobwars" / r["video"]).is_file() for r in rows)


def test_data_scenes_refuses_unknown_and_evaluation_games():
    for game in ("nosuch", "hedgewars"):
        result = CliRunner().invoke(app, ["data", "scenes", "--no-fetch", "--game", game])
        assert result.exit_code != 0 and "unknown game" in result.output
