"""Fish Fillets levels written by hand in the game's Lua: which room and music pair up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.fillets import fillets_pairs, lua_string
from core.data.scenes import build_scene_pairs
from tests.data.test_scenes import CLIP, _ogg, _png

DATA = Path("fillets-ng-data/usr/share/games/fillets-ng")


def _level(data: Path, name: str, models: str, code: str) -> None:
    d = data / "script" / name
    d.mkdir(parents=True)
    (d / "init.lua").write_text(f"file_include('script/level_funcs.lua')\n\ncodename = '{name}'\n")
    (d / "models.lua").write_text(models)
    (d / "code.lua").write_text(code)


def _fake_fillets(root: Path) -> Path:
    data = root / DATA
    _ogg(data / "music/rybky05.ogg", 21, 300)
    _ogg(data / "music/rybky09.ogg", 21, 500)
    _png(data / "images/wreck/potopena-pozadi.png", (420, 300), (20, 60, 120))
    # Walls: opaque on the left half only, so the room shows through on the right.
    walls = np.zeros((300, 420, 4), np.uint8)
    walls[:, :210] = (200, 180, 90, 255)
    Image.fromarray(walls, "RGBA").save(data / "images/wreck/potopena-w.png")
    _png(data / "images/cave/jeskyne-p.png", (300, 300), (60, 40, 30))
    _level(data, "wreck", '''
createRoom(28, 20, "images/"..codename.."/potopena-pozadi.png")
setRoomWaves(5, 10, 5)
room = addModel("item_fixed", 0, 0,
[[
XXXX
X..X
]])
addItemAnim(room, "images/"..codename.."/potopena-w.png")
''', '''
local function prog_init()
    initModels()
    sound_playMusic("music/rybky05.ogg")
    local pokus = getRestartCount()
end
prog_init()
''')
    # Music chosen at run time: names no single track.
    _level(data, "cave", 'createRoom(20, 20, "images/"..codename.."/jeskyne-p.png")\n',
           'sound_playMusic("music/rybky0"..random(9)..".ogg")\n')
    # Music, but its room picture does not exist.
    _level(data, "empty", 'createRoom(20, 20, "images/"..codename.."/none-p.png")\n',
           'sound_playMusic("music/rybky09.ogg")\n')
    (data / "script/share").mkdir()  # shared scripts: not a level
    return data


def test_lua_string():
    names = {"codename": "x"}
    assert lua_string('"images/"..codename.."/a-p.png"', names) == "images/x/a-p.png"
    assert lua_string("'music/a.ogg'", names) == "music/a.ogg"
    assert lua_string('"a"..other', names) is None


def test_fillets_pairs(tmp_path):
    data = _fake_fillets(tmp_path)
    msgs: list[str] = []
    pairs = fillets_pairs(tmp_path, progress=msgs.append)
    assert [(p.id, p.music.name, p.scene_key) for p in pairs] == [
        ("wreck", "rybky05.ogg", ("images/wreck/potopena-pozadi.png", "images/wreck/potopena-w.png"))]
    assert pairs[0].source == data / "script/wreck/code.lua"
    still = np.asarray(pairs[0].compose())
    assert still.shape == (300, 420, 3)
    # Walls drawn over the room on the left, the room picture on the right.
    assert tuple(still[250, 50]) == (200, 180, 90) and tuple(still[250, 400]) == (20, 60, 120)
    assert any("2 without" in m for m in msgs)


def test_fillets_build_names_source(tmp_path):
    _fake_fillets(tmp_path)
    (path,) = build_scene_pairs(tmp_path, tmp_path / "out", ["fillets"], **CLIP)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{
        "id": "fillets/wreck", "game": "fillets", "video": "clips/wreck.mp4", "track": "music/rybky05.ogg",
        "source": {"package": "fillets-ng-data", "path": "usr/share/games/fillets-ng/script/wreck/code.lua"},
    }]
    assert (path.parent / "clips/wreck.mp4").stat().st_size > 0
