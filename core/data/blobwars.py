"""Scene -> music pairs from Blob Wars: Metal Blob Solid (``blobwars-data``).

Each level file (``data/<level>``) is a grid of tile numbers followed by lines of
settings, each led by the skill levels it holds for (``EMH TILESET gfx/caves``,
``EMH BACKGROUND gfx/caves/background.jpg``, ``EMH MUSIC music/cave``,
``EMH START 10 305``). The designers chose the tile set, the painted background and
the music per level. A pair is the level around the player's start (background
behind the level's own tiles) and that music (Ogg Vorbis files without a suffix).

Tiles are 32 px squares: ``gfx/<tileset>/<n>.png`` where the set has one, else
``gfx/common/<n>.png`` (the game loads them in that order too).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.data.scenes import Progress, SceneGame, ScenePair, _blit, _load_rgba

PACKAGE = "blobwars-data"
SUBDIR = Path("usr/share/games/blobwars")
TILE = 32
# The world area a clip shows: ~1.8 screens wide, one high, like a SuperTux clip.
VIEW = (1152, 480)


def blobwars_root(root: Path) -> Path:
    """The game's data folder (``data/``, ``gfx/``, ``music/``) under ``root``."""
    root = Path(root)
    for cand in (root / PACKAGE / SUBDIR, root / SUBDIR, root):
        if (cand / "data").is_dir() and (cand / "music").is_dir():
            return cand
    raise FileNotFoundError(f"no Blob Wars data (data/, music/) under {root}")


def parse_level(text: str) -> tuple[np.ndarray, dict[str, list[str]]]:
    """A level file -> (tile grid ``[rows, cols]`` int, first settings per key).

    Grid rows are the leading lines of integers; a setting line is
    ``<skills> KEY args...`` (the first line per key wins, as all skills share it).
    """
    rows: list[list[int]] = []
    settings: dict[str, list[str]] = {}
    in_grid = True
    for line in text.splitlines():
        parts = line.split()
        if in_grid and parts and all(p.lstrip("-").isdigit() for p in parts):
            rows.append([int(p) for p in parts])
            continue
        in_grid = in_grid and not parts
        if len(parts) >= 3 and not parts[0].startswith("//"):
            settings.setdefault(parts[1], parts[2:])
    width = max((len(r) for r in rows), default=0)
    grid = np.zeros((len(rows), width), np.int64)
    for i, r in enumerate(rows):
        grid[i, : len(r)] = r
    return grid, settings


def blobwars_pairs(root: Path, progress: Progress | None = None) -> list[ScenePair]:
    """Every Blob Wars level naming existing music, background and tiles, sorted by name.

    ``root``: a sources folder holding ``blobwars-data/``, the unpacked package or the
    game's data folder.
    """
    say = progress or (lambda _m: None)
    data = blobwars_root(root)
    out: list[ScenePair] = []
    skipped = 0
    for level in sorted(p for p in (data / "data").iterdir() if p.is_file()):
        head = level.read_bytes()[:4]
        if not head[:1].isdigit():  # widgets, texts, definitions: not level maps
            continue
        grid, settings = parse_level(level.read_text(errors="replace"))
        music = _file(data, settings.get("MUSIC"), (".ogg", ""))
        background = _file(data, settings.get("BACKGROUND"), ("",))
        tileset = settings.get("TILESET", [""])[0]
        if music is None or background is None or not grid.size or not tileset:
            skipped += 1
            continue
        start = settings.get("START", [])
        try:
            sx, sy = float(start[0]), float(start[1])
        except (IndexError, ValueError):
            sx, sy = 0.0, grid.shape[0] * TILE / 2
        out.append(
            ScenePair(
                game="blobwars",
                id=level.name,
                music=music,
                # The game's files have no suffix; the copy for the catalog gets one.
                music_rel=music.relative_to(data / "music").as_posix() + ("" if music.suffix else ".ogg"),
                # Levels sharing background, tiles and music are one scene.
                scene_key=(background.relative_to(data).as_posix(), tileset),
                compose=_LevelScene(data, grid, background, tileset, (sx, sy)),
                source=level,
            )
        )
    say(f"blobwars: {len(out)} levels with music, background and tiles ({skipped} without)")
    return out


def _file(data: Path, value: list[str] | None, suffixes: tuple[str, ...]) -> Path | None:
    if not value:
        return None
    rel = value[0].strip('"')
    for s in suffixes:
        p = data / (rel + s)
        if p.is_file():
            return p
    return None


class _LevelScene:
    """Draws a level around its start: the background tiled behind, then the tiles."""

    def __init__(self, data: Path, grid: np.ndarray, background: Path, tileset: str,
                 start: tuple[float, float]):
        self.data, self.grid, self.background, self.tileset, self.start = data, grid, background, tileset, start

    def __call__(self) -> Image.Image:
        W, H = VIEW
        rows, cols = self.grid.shape
        cam_x = max(0.0, min(self.start[0] - W * 0.3, cols * TILE - W))
        cam_y = max(0.0, min(self.start[1] - H * 0.6, rows * TILE - H))
        canvas = Image.new("RGBA", (W, H), (0, 0, 0, 255))
        bg = _load_rgba(self.background)
        if bg is not None:
            for y in range(0, H, bg.height):
                for x in range(0, W, bg.width):
                    _blit(canvas, bg, x, y)
        tiles: dict[int, Image.Image | None] = {}
        c0, r0 = int(cam_x // TILE), int(cam_y // TILE)
        for r in range(r0, min(rows, r0 + H // TILE + 2)):
            for c in range(c0, min(cols, c0 + W // TILE + 2)):
                tid = int(self.grid[r, c])
                if tid <= 0:
                    continue
                if tid not in tiles:
                    tiles[tid] = self._tile(tid)
                img = tiles[tid]
                if img is not None:
                    _blit(canvas, img, int(c * TILE - cam_x), int(r * TILE - cam_y))
        return canvas.convert("RGB")

    def _tile(self, tid: int) -> Image.Image | None:
        for folder in (self.data / self.tileset, self.data / "gfx/common"):
            p = folder / f"{tid}.png"
            if p.is_file():
                return _load_rgba(p)
        return None


GAME = SceneGame((PACKAGE,), PACKAGE, blobwars_pairs)
