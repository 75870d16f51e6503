"""Blob Wars levels written by hand in the game's map format: which scene and music pair up."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.blobwars import TILE, blobwars_pairs, parse_level
from tests.data.test_scenes import _ogg, _png

DATA = Path("blobwars-data/usr/share/games/blobwars")


def _grid(rows: int, cols: int, floor: int) -> str:
    lines = []
    for r in range(rows):
        lines.append(" ".join(str(floor if r >= rows - 3 else 0) for _ in range(cols)) + " ")
    return "\n".join(lines) + "\n"


def _fake_blobwars(root: Path) -> Path:
    data = root / DATA
    _ogg(data / "music/cave", 21, 300)  # the game's music files have no suffix
    _png(data / "gfx/caves/background.png", (640, 480), (30, 20, 60))
    _png(data / "gfx/caves/5.png", (TILE, TILE), (150, 90, 40))
    _png(data / "gfx/common/1.png", (TILE, TILE), (90, 90, 90))
    (data / "data").mkdir(parents=True)
    settings = """
EMH STAGENAME "Inner Cave Network, Part 1"
EMH TILESET gfx/caves
EMH BACKGROUND gfx/caves/background.png
EMH MUSIC music/cave
EMH START 64 500
// ****************** comment ******************
MH OBJECTIVE "Collect the Blueprints" "Set of Blueprints" 1 OBJ_REQUIRED
"""
    (data / "data/caves1").write_text(_grid(20, 60, 5) + settings)
    (data / "data/caves2").write_text(_grid(20, 60, 1) + settings)  # same scene and music
    (data / "data/quiet").write_text(_grid(20, 60, 5) + settings.replace("EMH MUSIC music/cave\n", ""))
    (data / "data/dark").write_text(_grid(20, 60, 5) + settings.replace("BACKGROUND gfx/caves/background.png",
                                                                        "BACKGROUND gfx/caves/none.png"))
    (data / "data/inGameWidgets").write_text('"Main" "Start" WG_BUTTON\n')  # not a level
    return data


def test_parse_level():
    grid, settings = parse_level("0 1 2 \n3 4 5 \n\nEMH MUSIC music/a\nH MUSIC music/b\n")
    assert grid.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert settings["MUSIC"] == ["music/a"]


def test_blobwars_pairs(tmp_path):
    data = _fake_blobwars(tmp_path)
    pairs = blobwars_pairs(tmp_path)
    assert [(p.id, p.music.name, p.scene_key) for p in pairs] == [
        ("caves1", "cave", ("gfx/caves/background.png", "gfx/caves")),
        ("caves2", "cave", ("gfx/caves/background.png", "gfx/caves")),
    ]
    assert pairs[0].source == data / "data/caves1"
    still = np.asarray(pairs[0].compose())
    # The level's own tiles along the bottom, its background above them.
    assert tuple(still[-10, 100]) == (150, 90, 40)
    assert tuple(still[10, 600]) == (30, 20, 60)
    # Tiles the set lacks come from gfx/common.
    assert tuple(np.asarray(pairs[1].compose())[-10, 100]) == (90, 90, 90)
