"""Flare maps written by hand in the game's map format: which scene and music pair up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.data.flare import flare_pairs, parse_flare_map
from tests.data.test_scenes import _ogg

MODS = Path("flare-game/usr/share/games/flare/mods")


def _map(music: str | None, tileset: str, fill: int, size: int = 12) -> str:
    row = ",".join([str(fill)] * size) + ","
    header = ["[header]", f"width={size}", f"height={size}", "tilewidth=64", "tileheight=32",
              "orientation=isometric", "background_color=0,0,0,255", "hero_pos=1,6",
              f"tileset={tileset}", "title=A map"]
    if music:
        header.insert(7, f"music={music}")
    floor = "\n".join(["[layer]", "type=background", "data="] + [row] * size)
    objects = "\n".join(["[layer]", "type=object", "data="] + [",".join(["0"] * size) + ","] * size)
    collision = "\n".join(["[layer]", "type=collision", "data="] + [",".join(["1"] * size) + ","] * size)
    return "\n".join(header) + "\n\n" + floor + "\n\n" + objects + "\n\n" + collision + "\n\n[event]\ntype=event\n"


def _fake_flare(root: Path) -> Path:
    mods = root / MODS
    core, camp = mods / "fantasycore", mods / "empyrean_campaign"
    _ogg(core / "music/cave_theme.ogg", 21, 300)
    atlas = np.zeros((32, 128, 4), np.uint8)
    atlas[:, :64] = (120, 100, 80, 255)  # tile 16
    atlas[:, 64:] = (60, 50, 40, 255)  # tile 17
    (core / "images/tilesets").mkdir(parents=True)
    Image.fromarray(atlas, "RGBA").save(core / "images/tilesets/tileset_cave.png")
    (core / "tilesetdefs").mkdir(parents=True)
    (core / "tilesetdefs/tileset_cave.txt").write_text(
        "[tileset]\nimg=images/tilesets/tileset_cave.png\n\ntile=16,0,0,64,32,32,16\ntile=17,64,0,64,32,32,16\n")
    (camp / "maps").mkdir(parents=True)
    (camp / "maps/goblin_cave.txt").write_text(_map("music/cave_theme.ogg", "tilesetdefs/tileset_cave.txt", 16))
    (camp / "maps/mines.txt").write_text(_map("music/cave_theme.ogg", "tilesetdefs/tileset_cave.txt", 17))
    (camp / "maps/silent.txt").write_text(_map(None, "tilesetdefs/tileset_cave.txt", 16))
    (camp / "maps/void.txt").write_text(_map("music/cave_theme.ogg", "tilesetdefs/tileset_none.txt", 16))
    return mods


def test_parse_flare_map():
    header, layers = parse_flare_map(_map("music/a.ogg", "t.txt", 3, size=2))
    assert header["music"] == "music/a.ogg" and header["hero_pos"] == "1,6"
    assert layers == [("background", [[3, 3], [3, 3]]), ("object", [[0, 0], [0, 0]]),
                      ("collision", [[1, 1], [1, 1]])]


def test_flare_pairs(tmp_path):
    mods = _fake_flare(tmp_path)
    pairs = flare_pairs(tmp_path)
    # The map without music and the one whose tile set is missing give no pair.
    assert [(p.id, p.music.name) for p in pairs] == [("goblin_cave", "cave_theme.ogg"), ("mines", "cave_theme.ogg")]
    assert pairs[0].source == mods / "empyrean_campaign/maps/goblin_cave.txt"
    assert pairs[0].music == mods / "fantasycore/music/cave_theme.ogg"
    still = np.asarray(pairs[0].compose())
    h, w, _ = still.shape
    # The floor is drawn in the middle of the view, from the tile the map names.
    assert tuple(still[h // 2, w // 2]) == (120, 100, 80)
    assert tuple(np.asarray(pairs[1].compose())[h // 2, w // 2]) == (60, 50, 40)
