"""Scene -> music pairs from Fish Fillets NG (``fillets-ng-data``).

Every level of Fish Fillets is one room, painted by the game's artists: a background
picture (``createRoom(w, h, "images/<level>/<name>-p.png")`` in the level's
``models.lua``) behind a foreground of walls (the room model's
``addItemAnim(room, "images/<level>/<name>-w.png")``). The level's ``code.lua``
starts the music its designers chose for it (``sound_playMusic("music/<x>.ogg")``).
A pair is the room (background with its walls on top) and that music.

The scripts are Lua; only the few calls above are read, with string arguments made of
quoted pieces and the level's ``codename`` joined by ``..``. A level whose music name
is computed at run time (chosen among several tracks) names no single track and gives
no pair.
"""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from core.data.scenes import Progress, SceneGame, ScenePair, _blit, _load_rgba

PACKAGE = "fillets-ng-data"
SUBDIR = Path("usr/share/games/fillets-ng")

_CODENAME = re.compile(r"""^\s*codename\s*=\s*(['"])(.*?)\1""", re.M)
_ROOM = re.compile(r"createRoom\(\s*\d+\s*,\s*\d+\s*,\s*(.+?)\)\s*$", re.M)
_ROOM_ITEM = re.compile(r"addItemAnim\(\s*room\s*,\s*(.+?)\)\s*$", re.M)
_MUSIC = re.compile(r"sound_playMusic\(\s*(.+?)\)\s*$", re.M)
# Levels whose room is a computer desktop (a parody of one), not a place.
_UI_LEVELS = frozenset({"windoze"})


def fillets_root(root: Path) -> Path:
    """The game's data folder (with ``script/``, ``images/``, ``music/``) under ``root``."""
    root = Path(root)
    for cand in (root / PACKAGE / SUBDIR, root / SUBDIR, root):
        if (cand / "script").is_dir() and (cand / "music").is_dir():
            return cand
    raise FileNotFoundError(f"no Fish Fillets data (script/, music/) under {root}")


def lua_string(expr: str, names: dict[str, str]) -> str | None:
    """A Lua string expression of quoted pieces and known names joined by ``..``.

    ``"images/"..codename.."/a-p.png"`` with ``{"codename": "x"}`` -> ``images/x/a-p.png``;
    anything else (a call, an unknown variable) -> None.
    """
    out = []
    for piece in expr.split(".."):
        piece = piece.strip()
        m = re.fullmatch(r"""(['"])(.*)\1""", piece)
        if m:
            out.append(m.group(2))
        elif piece in names:
            out.append(names[piece])
        else:
            return None
    return "".join(out)


def fillets_pairs(root: Path, progress: Progress | None = None) -> list[ScenePair]:
    """Every Fish Fillets level whose room picture and music both exist, sorted by level.

    ``root``: a sources folder holding ``fillets-ng-data/``, the unpacked package or the
    game's data folder. The music is the first ``sound_playMusic`` call with a fixed
    file name in the level's ``code.lua``. The desktop-parody level is left out: its
    room is a screen of windows and menus, not a scene.
    """
    say = progress or (lambda _m: None)
    data = fillets_root(root)
    out: list[ScenePair] = []
    skipped = 0
    for level in sorted(p for p in (data / "script").iterdir() if (p / "models.lua").is_file()):
        init = level / "init.lua"
        m = _CODENAME.search(init.read_text(errors="replace")) if init.is_file() else None
        names = {"codename": m.group(2) if m else level.name}
        models = (level / "models.lua").read_text(errors="replace")
        code = (level / "code.lua").read_text(errors="replace") if (level / "code.lua").is_file() else ""
        room = _first_file(_ROOM.findall(models), names, data)
        walls = _first_file(_ROOM_ITEM.findall(models), names, data)
        music = _first_file(_MUSIC.findall(code), names, data)
        if room is None or music is None or level.name in _UI_LEVELS:
            skipped += 1
            continue
        images = (room,) if walls is None else (room, walls)
        out.append(
            ScenePair(
                game="fillets",
                id=level.name,
                music=music,
                music_rel=music.relative_to(data / "music").as_posix(),
                scene_key=tuple(p.relative_to(data).as_posix() for p in images),
                compose=lambda images=images: room_still(images),
                source=level / "code.lua",
            )
        )
    say(f"fillets: {len(out)} levels with a room picture and fixed music ({skipped} without)")
    return out


def _first_file(exprs: list[str], names: dict[str, str], data: Path) -> Path | None:
    for expr in exprs:
        rel = lua_string(expr, names)
        if rel and (data / rel).is_file():
            return data / rel
    return None


def room_still(images: tuple[Path, ...]) -> Image.Image:
    """The room's background picture with its wall picture(s) composited on top (RGB)."""
    base = _load_rgba(images[0])
    if base is None:
        raise OSError(f"cannot read {images[0]}")
    for p in images[1:]:
        lay = _load_rgba(p)
        if lay is not None:
            _blit(base, lay, 0, 0)
    return base.convert("RGB")


GAME = SceneGame((PACKAGE,), PACKAGE, fillets_pairs)
