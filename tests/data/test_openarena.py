"""OpenArena maps written by hand (a Quake 3 BSP's entity lump, in a .pk3 zip): which shot and music pair up."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.openarena import BASEOA, openarena_pairs, worldspawn_music
from tests.data.test_scenes import _ogg


def _bsp(entities: str) -> bytes:
    """A Quake 3 BSP holding only its entity lump (lump 0); the other 16 lumps are empty."""
    header_len = 8 + 17 * 8
    body = entities.encode("latin-1") + b"\0"
    lumps = struct.pack("<ii", header_len, len(body)) + struct.pack("<ii", header_len + len(body), 0) * 16
    return b"IBSP" + struct.pack("<i", 46) + lumps + body


def _worldspawn(music: str | None) -> str:
    key = f'"music" "{music}"\n' if music else ""
    return ('{\n"classname" "worldspawn"\n"message" "A map"\n' + key + '}\n'
            '{\n"classname" "info_player_deathmatch"\n"music" "music/not_this.ogg"\n}\n')


def _jpg(colour: tuple[int, int, int], pattern: int) -> bytes:
    rng = np.random.default_rng(pattern)
    arr = np.clip(np.array(colour, np.int16) + rng.integers(-40, 40, (128, 128, 1)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _fake_openarena(root: Path) -> Path:
    base = root / "openarena-088-data" / BASEOA
    _ogg(base / "music/OA06.ogg", 21, 300)  # unpacked from the archive by fetch_packages
    base.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(base / "pak6-patch088.pk3", "w") as z:
        z.writestr("maps/oa_arena.bsp", _bsp(_worldspawn("music/OA06")))  # no suffix: the engine adds .ogg
        z.writestr("levelshots/oa_arena.jpg", _jpg((150, 60, 30), 1))
        z.writestr("maps/oa_arena_ctf.bsp", _bsp(_worldspawn("music/OA06.ogg")))  # a variant: same shot
        z.writestr("levelshots/oa_arena_ctf.jpg", _jpg((150, 60, 30), 1))
        z.writestr("maps/oa_quiet.bsp", _bsp(_worldspawn(None)))  # names no music
        z.writestr("levelshots/oa_quiet.jpg", _jpg((30, 60, 150), 2))
        z.writestr("maps/oa_gone.bsp", _bsp(_worldspawn("music/OA09.ogg")))  # music Debian does not ship
        z.writestr("levelshots/oa_gone.jpg", _jpg((30, 60, 150), 3))
        z.writestr("maps/oa_noshot.bsp", _bsp(_worldspawn("music/OA06.ogg")))  # no level shot
    maps = root / "openarena-081-maps" / BASEOA
    maps.mkdir(parents=True)
    with zipfile.ZipFile(maps / "pak1-maps.pk3", "w") as z:
        z.writestr("maps/oa_cave.bsp", _bsp(_worldspawn("music/OA06.ogg")))
        z.writestr("levelshots/oa_cave.jpg", _jpg((40, 140, 60), 4))
    return base


def test_worldspawn_music():
    assert worldspawn_music(_bsp(_worldspawn("music/OA06.ogg music/OA06_loop.ogg"))) == "music/OA06.ogg"
    assert worldspawn_music(_bsp(_worldspawn(None))) is None  # another entity's key does not count
    assert worldspawn_music(b"not a bsp") is None


def test_openarena_pairs(tmp_path):
    base = _fake_openarena(tmp_path)
    pairs = openarena_pairs(tmp_path)
    assert [(p.id, p.music.name, p.scene_key) for p in pairs] == [
        ("oa_arena", "OA06.ogg", ("oa_arena",)),
        ("oa_arena_ctf", "OA06.ogg", ("oa_arena",)),  # its shot matches oa_arena's: one scene
        ("oa_cave", "OA06.ogg", ("oa_cave",)),
    ]
    assert pairs[0].source == base / "pak6-patch088.pk3/maps/oa_arena.bsp"
    shot = np.asarray(pairs[2].compose())
    assert shot.shape == (128, 128, 3) and abs(shot.reshape(-1, 3).mean(0) - (40, 140, 60)).max() < 8
