"""FreedroidRPG levels written by hand in the game's level format: which scene and music pair up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.data.freedroid import freedroid_pairs, floor_tile_lists, obstacle_images, parse_levels
from tests.data.test_scenes import _ogg

DATA = Path("freedroidrpg-data/usr/share/freedroidrpg/data")

FLOOR_LUA = """
-- A list can contain a mix of static and animated floor tiles.
underlay_floor_tile_list {
	"iso_void.png",
	"iso_grass_floor_0000.png",
	{ filenames = { "iso_water_0001.png", "iso_water_0002.png" },
	 animation_fps = 20 },
	}

overlay_floor_tile_list {
	"iso_sidewalk_0000.png",
	}
"""

OBSTACLES_LUA = """
function borders(left, right, upper, lower)
	return { left, right, upper, lower }
end

-- #0
obstacle {
	image_filenames = "iso_tree_stump.png",
	borders = borders(0.60, 0.60),
}

-- #1
obstacle {
	image_filenames = { "iso_teleport_1.png", "iso_teleport_2.png" },
	emitted_light_strength = { 20, 19 },
}
"""


def _level(number: int, song: str | None, floor: int, size: int = 8) -> str:
    head = [f"Levelnumber: {number}", f"xlen of this level: {size}", f"ylen of this level: {size}",
            "floor layers: 2", "light radius bonus of this level: 12", f'Name of this level=_"Level {number}"']
    if song:
        head.append(f"BgSong={song}")
    grid = ["".join(f"{floor:4d}{0:4d}" for _ in range(size)) for _ in range(size)]
    return "\n".join([*head, "beginning_of_map", *grid, "/pmapinfolvl", "obsdata",
                      f"t0 x{size / 2:.2f} y{size / 2:.2f}", "/obsdata", "statelist", "/statelist", ""])


def _fake_freedroid(root: Path) -> Path:
    data = root / DATA
    _ogg(data / "sound/music/town.ogg", 21, 300)
    (data / "base").mkdir(parents=True)
    (data / "base/floor_tiles.lua").write_text(FLOOR_LUA)
    (data / "base/obstacle_specs.lua").write_text(OBSTACLES_LUA)
    floors, obstacles = data / "graphics/floor_tiles", data / "graphics/obstacles"
    floors.mkdir(parents=True)
    obstacles.mkdir(parents=True)
    sheet = np.zeros((64, 256, 4), np.uint8)
    sheet[:, :128] = (60, 140, 50, 255)  # grass
    sheet[:, 128:] = (40, 60, 160, 255)  # water
    Image.fromarray(sheet, "RGBA").save(floors / "floor_tiles_atlas1.png")
    (floors / "atlas.txt").write_text("* ./floor_tiles_atlas1.png size 256 64\n"
                                      "iso_grass_floor_0000.png 0 0 128 64 off -64 -32\n"
                                      "iso_water_0001.png 128 0 128 64 off -64 -32\n")
    stump = np.zeros((40, 20, 4), np.uint8)
    stump[:] = (120, 70, 30, 255)
    Image.fromarray(stump, "RGBA").save(obstacles / "obstacles_atlas1.png")
    (obstacles / "atlas.txt").write_text("* obstacles_atlas1.png size 20 40\n"
                                         "iso_tree_stump.png 0 0 20 40 off -10 -35\n")
    (data / "storyline/act1").mkdir(parents=True)
    (data / "storyline/act1/levels.dat").write_text(
        "\n".join([_level(0, "town.ogg", 1), _level(1, "town.ogg", 2),
                   _level(2, None, 1),  # no music
                   _level(3, "town.ogg", 0)]))  # only the void tile, which has no image
    return data


def test_lua_lists():
    assert floor_tile_lists(FLOOR_LUA) == (["iso_void.png", "iso_grass_floor_0000.png", "iso_water_0001.png"],
                                           ["iso_sidewalk_0000.png"])
    assert obstacle_images(OBSTACLES_LUA) == ["iso_tree_stump.png", "iso_teleport_1.png"]


def test_parse_levels():
    (level,) = parse_levels(_level(7, "a.ogg", 501, size=3))
    assert (level["number"], level["name"], level["song"]) == (7, "Level 7", "a.ogg")
    assert level["floor"].shape == (2, 3, 3) and (level["floor"][0] == 501).all() and (level["floor"][1] == 0).all()
    assert level["obstacles"] == [(0, 1.5, 1.5)]


def test_freedroid_pairs(tmp_path):
    data = _fake_freedroid(tmp_path)
    pairs = freedroid_pairs(tmp_path)
    assert [(p.id, p.music.name) for p in pairs] == [("act1/0", "town.ogg"), ("act1/1", "town.ogg")]
    assert pairs[0].source == data / "storyline/act1/levels.dat"
    grass, water = np.asarray(pairs[0].compose()), np.asarray(pairs[1].compose())
    h, w, _ = grass.shape
    colours = {tuple(c) for c in grass.reshape(-1, 3)}
    assert (60, 140, 50) in colours and (120, 70, 30) in colours  # the level's floor and its tree stump
    assert tuple(water[h // 4, w // 2]) == (40, 60, 160)
