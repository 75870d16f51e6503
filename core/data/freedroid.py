"""Scene -> music pairs from FreedroidRPG (``freedroidrpg-data``).

The game's world is a set of levels in ``storyline/<act>/levels.dat``. Each level
record names its music (``BgSong=town.ogg``, in ``sound/music/``), holds a grid of
floor tiles (``beginning_of_map``: per cell one number per floor layer; underlay
tiles count from 0, overlay tiles from 500) and the obstacles placed on it
(``obsdata``: ``t<type> x<map x> y<map y>``: trees, walls, buildings). Floor tile
numbers index the lists in ``base/floor_tiles.lua``, obstacle types the blocks of
``base/obstacle_specs.lua``; both name images kept in texture atlases
(``graphics/*/atlas.txt``: name, box, drawing offset). A pair is the level drawn
isometrically where its scenery is densest, and the level's music.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.scenes import Progress, SceneGame, ScenePair, _blit, _load_rgba

PACKAGE = "freedroidrpg-data"
SUBDIR = Path("usr/share/freedroidrpg/data")
# The game's isometric floor tile: 128 x 64 px for one map unit.
TILE_W, TILE_H = 128, 64
OVERLAY_BASE = 500
# The world area a clip shows (px).
VIEW = (1280, 640)

_PNG = re.compile(r'"([^"]+\.png)"')
_FLOOR_ENTRY = re.compile(r'\{\s*filenames\s*=\s*\{([^}]*)\}[^}]*\}|"([^"]+\.png)"')
_OBSTACLE = re.compile(r"t(\d+)\s+x(-?[\d.]+)\s+y(-?[\d.]+)")


def freedroid_root(root: Path) -> Path:
    """The game's data folder (``storyline/``, ``graphics/``, ``sound/``) under ``root``."""
    root = Path(root)
    for cand in (root / PACKAGE / SUBDIR, root / SUBDIR, root):
        if (cand / "storyline").is_dir() and (cand / "base").is_dir():
            return cand
    raise FileNotFoundError(f"no FreedroidRPG data (storyline/, base/) under {root}")


def floor_tile_lists(text: str) -> tuple[list[str], list[str]]:
    """``floor_tiles.lua`` -> (underlay images, overlay images); an animated tile is its first frame."""
    lists = []
    for head in ("underlay_floor_tile_list", "overlay_floor_tile_list"):
        start = text.find(head)
        if start < 0:
            lists.append([])
            continue
        body, depth, i = [], 0, text.find("{", start)
        for j in range(i, len(text)):
            depth += text[j] == "{"
            depth -= text[j] == "}"
            if depth == 0:
                body = text[i + 1 : j]
                break
        names = []
        for m in _FLOOR_ENTRY.finditer(body):
            if m.group(1) is not None:
                frames = _PNG.findall(m.group(1))
                names.append(frames[0] if frames else "")
            else:
                names.append(m.group(2))
        lists.append(names)
    return lists[0], lists[1]


def obstacle_images(text: str) -> list[str]:
    """``obstacle_specs.lua`` -> the (first) image of each obstacle type, by type number."""
    out = []
    for block in re.split(r"\n\s*obstacle\s*\{", text)[1:]:
        m = re.search(r"image_filenames\s*=\s*(\{[^}]*\}|\"[^\"]*\")", block)
        frames = _PNG.findall(m.group(1)) if m else []
        out.append(frames[0] if frames else "")
    return out


class Atlas:
    """Image name -> (atlas sheet, box, drawing offset) from the ``atlas.txt`` files."""

    def __init__(self, folders: list[Path]):
        self.where: dict[str, tuple[Path, tuple[int, int, int, int], tuple[int, int]]] = {}
        self._sheets: dict[Path, Image.Image | None] = {}
        self._cache: dict[str, tuple[Image.Image, tuple[int, int]] | None] = {}
        for folder in folders:
            atlas = folder / "atlas.txt"
            if not atlas.is_file():
                continue
            sheet: Path | None = None
            for line in atlas.read_text(errors="replace").splitlines():
                parts = line.split()
                if line.startswith("*") and len(parts) >= 2:
                    sheet = folder / parts[1]
                elif sheet is not None and len(parts) >= 8 and parts[5] == "off":
                    try:
                        x, y, w, h, ox, oy = (int(v) for v in (*parts[1:5], *parts[6:8]))
                    except ValueError:
                        continue
                    self.where.setdefault(parts[0], (sheet, (x, y, x + w, y + h), (ox, oy)))

    def image(self, name: str) -> tuple[Image.Image, tuple[int, int]] | None:
        if name not in self._cache:
            hit = None
            spec = self.where.get(name)
            if spec is not None:
                sheet, box, off = spec
                if sheet not in self._sheets:
                    self._sheets[sheet] = _load_rgba(sheet)
                img = self._sheets[sheet]
                if img is not None and box[2] <= img.width and box[3] <= img.height:
                    hit = (img.crop(box), off)
            self._cache[name] = hit
        return self._cache[name]


def parse_levels(text: str) -> list[dict]:
    """``levels.dat`` -> one dict per level: number, name, song, floor layers
    (``[layers, rows, cols]`` int array) and obstacles (``[(type, x, y)]``)."""
    levels = []
    for chunk in re.split(r"^Levelnumber:", text, flags=re.M)[1:]:
        lines = chunk.splitlines()
        head = {}
        for line in lines:
            if line.startswith("beginning_of_map"):
                break
            key, sep, value = line.partition(":") if ":" in line and "=" not in line else line.partition("=")
            if sep:
                head[key.strip()] = value.strip()
        try:
            number = int(lines[0].strip())
            xlen, ylen = int(head["xlen of this level"]), int(head["ylen of this level"])
            n_layers = int(head.get("floor layers", "1"))
        except (KeyError, ValueError, IndexError):
            continue
        rows: list[list[int]] = []
        obstacles: list[tuple[int, float, float]] = []
        in_map = False
        for line in lines:
            if line.startswith("beginning_of_map"):
                in_map = True
                continue
            if in_map and len(rows) < ylen:
                vals = line.split()
                if vals and all(v.isdigit() for v in vals):
                    rows.append([int(v) for v in vals])
                    continue
                in_map = False
            m = _OBSTACLE.match(line.strip())
            if m:
                obstacles.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))
        floor = np.zeros((n_layers, ylen, xlen), np.int64)
        for r, vals in enumerate(rows[:ylen]):
            cells = np.array(vals[: xlen * n_layers], np.int64)
            cells = np.pad(cells, (0, xlen * n_layers - len(cells)))
            floor[:, r, :] = cells.reshape(xlen, n_layers).T
        name = head.get("Name of this level", "").removeprefix("_").strip('"')
        levels.append({"number": number, "name": name, "song": head.get("BgSong", ""),
                       "floor": floor, "obstacles": obstacles})
    return levels


def freedroid_pairs(root: Path, progress: Progress | None = None) -> list[ScenePair]:
    """Every level naming music that exists and with floor tiles that have images, by act
    and level number.

    ``root``: a sources folder holding ``freedroidrpg-data/``, the unpacked package or
    the game's data folder.
    """
    say = progress or (lambda _m: None)
    data = freedroid_root(root)
    underlay, overlay = floor_tile_lists((data / "base/floor_tiles.lua").read_text(errors="replace"))
    obstacles = obstacle_images((data / "base/obstacle_specs.lua").read_text(errors="replace"))
    atlas = Atlas([data / "graphics/floor_tiles", data / "graphics/obstacles"])
    out: list[ScenePair] = []
    skipped = 0
    for levels_dat in sorted((data / "storyline").glob("*/levels.dat")):
        act = levels_dat.parent.name
        for level in parse_levels(levels_dat.read_text(errors="replace")):
            music = data / "sound/music" / level["song"] if level["song"] else None
            floor_names = {_tile_name(int(v), 0, underlay, overlay) for v in np.unique(level["floor"])}
            if music is None or not music.is_file() or not any(n in atlas.where for n in floor_names):
                skipped += 1
                continue
            out.append(
                ScenePair(
                    game="freedroid",
                    id=f"{act}/{level['number']}",
                    music=music,
                    music_rel=music.name,
                    scene_key=(act, str(level["number"])),
                    compose=_LevelScene(level, underlay, overlay, obstacles, atlas),
                    source=levels_dat,
                )
            )
    say(f"freedroid: {len(out)} levels with music ({skipped} without)")
    return out


def _tile_name(v: int, layer: int, underlay: list[str], overlay: list[str]) -> str:
    """Floor tile number -> image name ("" for none)."""
    if v >= OVERLAY_BASE:
        i = v - OVERLAY_BASE
        return overlay[i] if i < len(overlay) else ""
    if layer > 0 and v == 0:  # an empty upper layer
        return ""
    return underlay[v] if v < len(underlay) else ""


class _LevelScene:
    """Draws a level isometrically: floor layers, then obstacles back to front."""

    def __init__(self, level: dict, underlay: list[str], overlay: list[str], obstacles: list[str], atlas: Atlas):
        self.level, self.underlay, self.overlay, self.obstacles, self.atlas = level, underlay, overlay, obstacles, atlas

    def __call__(self) -> Image.Image:
        W, H = VIEW
        floor = self.level["floor"]
        _, rows, cols = floor.shape
        cx, cy = self._centre()
        # Screen position of map point (x, y), relative to the view's top-left.
        def screen(x: float, y: float) -> tuple[float, float]:
            return (x - y - (cx - cy)) * TILE_W / 2 + W / 2, (x + y - (cx + cy)) * TILE_H / 2 + H / 2

        canvas = Image.new("RGBA", (W, H), (0, 0, 0, 255))
        reach = int(W / TILE_W + H / TILE_H) + 3
        r0, r1 = max(0, int(cy) - reach), min(rows, int(cy) + reach)
        c0, c1 = max(0, int(cx) - reach), min(cols, int(cx) + reach)
        for layer in range(floor.shape[0]):
            for r in range(r0, r1):
                for c in range(c0, c1):
                    name = _tile_name(int(floor[layer, r, c]), layer, self.underlay, self.overlay)
                    hit = self.atlas.image(name) if name else None
                    if hit is None:
                        continue
                    sx, sy = screen(c + 0.5, r + 0.5)
                    if -300 < sx < W + 300 and -300 < sy < H + 300:
                        img, (ox, oy) = hit
                        _blit(canvas, img, int(sx + ox), int(sy + oy))
        for t, x, y in sorted(self.level["obstacles"], key=lambda o: (o[1] + o[2], o[1])):
            sx, sy = screen(x, y)
            if not (-600 < sx < W + 600 and -200 < sy < H + 800) or t >= len(self.obstacles):
                continue
            hit = self.atlas.image(self.obstacles[t]) if self.obstacles[t] else None
            if hit is not None:
                img, (ox, oy) = hit
                _blit(canvas, img, int(sx + ox), int(sy + oy))
        return canvas.convert("RGB")

    def _centre(self) -> tuple[float, float]:
        """The map point whose view holds the most obstacles (scenery), on a coarse grid;
        ties go to the one nearest the level's middle. Without obstacles: the middle."""
        _, rows, cols = self.level["floor"].shape
        mid = (cols / 2, rows / 2)
        obs = np.array([(x, y) for _t, x, y in self.level["obstacles"]], np.float64).reshape(-1, 2)
        if not len(obs):
            return mid
        sx, sy = (obs[:, 0] - obs[:, 1]) * TILE_W / 2, (obs[:, 0] + obs[:, 1]) * TILE_H / 2
        best, best_key = mid, None
        step = max(2, min(rows, cols) // 12)
        for y in range(step // 2, rows, step):
            for x in range(step // 2, cols, step):
                px, py = (x - y) * TILE_W / 2, (x + y) * TILE_H / 2
                inside = int(((abs(sx - px) < VIEW[0] / 2) & (abs(sy - py) < VIEW[1] / 2)).sum())
                key = (-inside, (x - mid[0]) ** 2 + (y - mid[1]) ** 2)
                if best_key is None or key < best_key:
                    best, best_key = (float(x), float(y)), key
        return best


GAME = SceneGame((PACKAGE,), PACKAGE, freedroid_pairs)
