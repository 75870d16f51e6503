"""Blob Wars levels written by hand in the game's map format: which scene and music pair up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.blobwars import TILE, blobwars_pairs, parse_level
from core.data.scenes import build_scene_pairs
from tests.data.test_scenes import CLIP, _ogg, _png, _textured_png

DATA = Path("blobwars-data/usr/share/games/blobwars")


def _grid(rows: int, cols: int, floor: int) -> str:
    lines = []
    for r in range(rows):
        lines.append(" ".join(str(floor if r >= rows - 3 else 0) for _ in range(cols)) + " ")
    return "\n".join(lines) + "\n"


def _fake_blobwars(root: Path) -> Path:
    data = root / DATA
    _ogg(data / "music/cave", 21, 300)  # the game's music files have no suffix
    _textured_png(data / "gfx/caves/background.png", (640, 480), 7)
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
    doc = root / "blobwars-data/usr/share/doc/blobwars-data"
    doc.mkdir(parents=True)
    # The package's copyright file names the draft DEP-5 format, music by file.
    (doc / "copyright").write_text("""Format: http://dep.debian.net/deps/dep5/
Upstream-Name: Blobwars
Source: http://blobwars.sourceforge.net/
  .
  This package was debianized by someone.

Files: *
Copyright:
  Copyright (c) 2004-2011 Parallel Realities
License: GPL-2+

Files:
  music/cave
  music/final
Copyright:
  Copyright (c) 2005 Lennaert van Driel
Comment:
  DJ Sjors
License: CC-BY-SA-3.0
""")
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
    background = np.asarray(Image.open(data / "gfx/caves/background.png").convert("RGB"))
    assert tuple(still[10, 600]) == tuple(background[10, 600])
    # Tiles the set lacks come from gfx/common.
    assert tuple(np.asarray(pairs[1].compose())[-10, 100]) == (90, 90, 90)


def test_blobwars_build_links_music_with_a_suffix_and_its_licence(tmp_path):
    _fake_blobwars(tmp_path)
    (path,) = build_scene_pairs(tmp_path, tmp_path / "out", ["blobwars"], **CLIP)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    # caves1 and caves2 show one scene with one track: one pair.
    assert [(r["id"], r["track"]) for r in rows] == [("blobwars/caves1", "music/cave.ogg")]
    assert rows[0]["source"] == {"package": "blobwars-data", "path": "usr/share/games/blobwars/data/caves1"}
    meta = json.loads((path.parent / "music/cave.ogg.json").read_text())
    assert meta["licence"] == "CC-BY-SA-3.0" and "Lennaert van Driel" in meta["attribution"]
