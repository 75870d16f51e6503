"""Real scene -> music pairs from Hedgewars themes, for a development evaluation of turn 1.

Each Hedgewars theme (``Data/Themes/<Theme>/``) names the music the game's designers
chose for it (``music = X.ogg`` in ``theme.cfg``) and holds the theme's images: the sky
(``Sky.png``), the distant horizon (``horizont.png``), the land texture
(``LandTex.png``), clouds, colours for sky, border and water. A slow camera move over
those layers is a short real scene whose soundtrack is known.

Several themes share one piece of music (``snow.ogg`` serves five), so the pairs have
fewer distinct tracks than clips; an evaluation should score by track.

Output contract (read by other tools, do not change): ``pairs.jsonl`` with one
``{"id": str, "game": "hedgewars", "video": path, "track": path, "source": {"package",
"path"}}`` per line, paths relative to the folder holding ``pairs.jsonl``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

# Where the game data sits inside the unpacked hedgewars-data package.
DATA_SUBDIR = Path("usr/share/games/hedgewars/Data")
PACKAGE = "hedgewars-data"

# Image layers the renderer uses, back to front (stems, case-insensitive).
_LAYER_STEMS = (
    "sky", "skyl", "skyr", "clouds", "horizont", "horizon", "horizontl",
    "horizontr", "landbacktex", "landtex",
)
_CANVAS_H = 720  # world pixels; theme sprites are drawn at their own size in this


@dataclass
class ThemePair:
    """One theme: its name, the music it names, and its scene images.

    ``images`` are the theme's layer images that exist, back to front (sky, clouds,
    horizon, land); ``config`` the ``theme.cfg`` values (first value per key).
    """

    theme: str
    music_path: Path
    images: list[Path]
    config: dict[str, str] = field(default_factory=dict)


def find_data_dir(root: Path) -> Path:
    """The hedgewars ``Data`` folder under ``root``.

    ``root`` may be a sources folder holding ``hedgewars-data/``, the unpacked package
    itself, or the ``Data`` folder. Raises ``FileNotFoundError`` if there is none.
    """
    root = Path(root)
    for cand in (root / PACKAGE / DATA_SUBDIR, root / DATA_SUBDIR, root):
        if (cand / "Themes").is_dir():
            return cand
    raise FileNotFoundError(f"no hedgewars Data/Themes folder under {root}")


def parse_theme_cfg(text: str) -> dict[str, str]:
    """``key = value`` lines -> dict (lower-case keys, first occurrence wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        if sep and key and not key.startswith(("#", ";")) and key not in out:
            out[key] = value.strip()
    return out


def _find_case_insensitive(folder: Path, name: str) -> Path | None:
    # theme.cfg and credits spell some names with another case than the files.
    exact = folder / name
    if exact.is_file():
        return exact
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.lower() == name.lower() and p.is_file():
                return p
    return None


def theme_pairs(
    root: Path, progress: Callable[[str], None] | None = None
) -> list[ThemePair]:
    """Every theme under ``root`` whose named music file exists, sorted by name.

    Themes without ``theme.cfg``, without a ``music`` entry or whose music file is
    missing are skipped (reported through ``progress``).
    """
    say = progress or (lambda _msg: None)
    data = find_data_dir(root)
    music_dir = data / "Music"
    pairs = []
    for tdir in sorted(p for p in (data / "Themes").iterdir() if p.is_dir()):
        cfg_path = tdir / "theme.cfg"
        if not cfg_path.is_file():
            continue
        cfg = parse_theme_cfg(cfg_path.read_text(errors="replace"))
        music_name = cfg.get("music", "").strip()
        music = _find_case_insensitive(music_dir, music_name) if music_name else None
        if music is None:
            say(f"{tdir.name}: skipped, music {music_name or '(none)'} not found")
            continue
        by_stem = {p.stem.lower(): p for p in tdir.glob("*.png")}
        images = [by_stem[s] for s in _LAYER_STEMS if s in by_stem]
        pairs.append(ThemePair(tdir.name, music, images, cfg))
    return pairs


# --------------------------------------------------------------------------- rendering


def _colour(value: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    """'19, 18, 82' or '$51, $5B, $60' -> (r, g, b); ``default`` if unreadable."""
    if not value:
        return default
    nums = []
    for part in value.split(","):
        part = part.strip()
        try:
            nums.append(int(part[1:], 16) if part.startswith("$") else int(part))
        except ValueError:
            return default
    if len(nums) < len(default):
        return default
    return tuple(max(0, min(255, n)) for n in nums[: len(default)])


def _image(pair: ThemePair, *stems: str) -> Image.Image | None:
    for s in stems:
        for p in pair.images:
            if p.stem.lower() == s:
                try:
                    im = Image.open(p)
                    im.load()
                    return im.convert("RGBA")
                except OSError:  # unreadable image: the layer is left out
                    return None
    return None


def _tile_row(canvas: Image.Image, tile: Image.Image, bottom: int) -> None:
    """Repeat ``tile`` across the canvas width with its bottom edge at ``bottom``."""
    top = bottom - tile.height
    if top < 0:  # taller than the space above: keep its lower part
        tile, top = tile.crop((0, -top, tile.width, tile.height)), 0
    for x in range(0, canvas.width, max(1, tile.width)):
        canvas.alpha_composite(tile, (x, top))


def _tiled(tile: Image.Image, size: tuple[int, int]) -> Image.Image:
    out = Image.new("RGBA", size)
    for y in range(0, size[1], max(1, tile.height)):
        for x in range(0, size[0], max(1, tile.width)):
            out.paste(tile, (x, y))
    return out


def _hills(width: int, base: float, amp: float, seed: int) -> np.ndarray:
    """Top edge of a land silhouette: smooth deterministic hills around ``base``."""
    x = np.arange(width, dtype=np.float64)
    ph = [(seed >> s & 0xFF) / 255 * 2 * math.pi for s in (0, 8, 16)]
    y = (
        0.6 * np.sin(2 * math.pi * x / 900 + ph[0])
        + 0.3 * np.sin(2 * math.pi * x / 370 + ph[1])
        + 0.1 * np.sin(2 * math.pi * x / 150 + ph[2])
    )
    return base + amp * y


def compose_theme(
    pair: ThemePair, canvas_width: int, canvas_height: int = _CANVAS_H
) -> Image.Image:
    """The theme as one wide still (RGB): sky, clouds, horizon, land, water.

    Layout follows the game loosely: sky colour above the sky image, the horizon
    strip in front of it, hilly land filled with the land texture, a strip of water at
    the bottom. Deterministic for a given theme (hill phases come from its name).
    """
    W, H = canvas_width, canvas_height
    cfg = pair.config
    seed = zlib.crc32(pair.theme.encode())
    canvas = Image.new("RGBA", (W, H), _colour(cfg.get("sky"), (20, 20, 60)) + (255,))

    horizon_y = int(H * 0.80)
    sky = _image(pair, "sky")
    if sky is not None:
        _tile_row(canvas, sky, horizon_y)

    clouds = _image(pair, "clouds")
    n_clouds = _int(cfg.get("clouds"), 9)
    if clouds is not None and n_clouds > 0:
        frame_h = clouds.width // 2 or clouds.height  # sheet of 2:1 frames, stacked
        frames = [
            clouds.crop((0, y, clouds.width, y + frame_h))
            for y in range(0, clouds.height - frame_h + 1, frame_h)
        ] or [clouds]
        count = max(2, min(8, n_clouds * W // 4000 + 2))
        for i in range(count):
            fx = (i + 0.5) / count * W + ((seed >> (i % 24)) & 0xFF) - 128
            fy = H * 0.05 + ((seed >> ((i * 5) % 24)) & 0x7F) / 127 * H * 0.25
            canvas.alpha_composite(frames[i % len(frames)], (int(fx) % W, int(fy)))

    horizon = _image(pair, "horizont", "horizon")
    if horizon is not None:
        _tile_row(canvas, horizon, horizon_y + int(H * 0.04))

    rows = np.arange(H)[:, None]
    back = _image(pair, "landbacktex")
    if back is not None:
        # Distant land: a second, higher ridge with the background texture, darkened.
        edge = _hills(W, H * 0.74, H * 0.06, seed ^ 0x5A5A5A)
        mask = Image.fromarray(((rows >= edge[None, :]) * 255).astype(np.uint8))
        tex = _tiled(back, (W, H)).point(lambda v: int(v * 0.6))
        canvas.paste(tex, (0, 0), mask)

    land = _image(pair, "landtex")
    edge = _hills(W, H * 0.82, H * 0.07, seed)
    below = rows >= edge[None, :]
    if land is not None:
        tex = _tiled(land, (W, H))
        tex.putalpha(255)
        canvas.paste(tex, (0, 0), Image.fromarray((below * 255).astype(np.uint8)))
    else:
        canvas.paste((90, 70, 50, 255), (0, 0), Image.fromarray((below * 255).astype(np.uint8)))
    border = (below & (rows < edge[None, :] + 5)) * 255
    canvas.paste(
        _colour(cfg.get("border"), (120, 90, 60)) + (255,),
        (0, 0),
        Image.fromarray(border.astype(np.uint8)),
    )

    # Water: vertical gradient from water-top to water-bottom at the theme's opacity.
    top_c = np.array(_colour(cfg.get("water-top"), (62, 123, 148)), dtype=np.float32)
    bot_c = np.array(_colour(cfg.get("water-bottom"), (43, 85, 102)), dtype=np.float32)
    alpha = _int(cfg.get("water-opacity"), 128)
    wy0 = int(H * 0.93)
    t = np.linspace(0.0, 1.0, H - wy0, dtype=np.float32)[:, None]
    grad = (top_c * (1 - t) + bot_c * t).astype(np.uint8)
    water = np.empty((H - wy0, W, 4), dtype=np.uint8)
    water[..., :3] = grad[:, None, :]
    water[..., 3] = max(0, min(255, alpha))
    canvas.alpha_composite(Image.fromarray(water, "RGBA"), (0, wy0))
    return canvas.convert("RGB")


def _int(value: str | None, default: int) -> int:
    if not value:
        return default
    v = value.split(",")[0].strip()
    try:
        return int(v[1:], 16) if v.startswith("$") else int(v)
    except ValueError:
        return default


def render_theme_clip(
    pair: ThemePair,
    out_path: Path,
    seconds: float = 8.0,
    size: tuple[int, int] = (640, 360),
    fps: int = 24,
) -> Path:
    """Write a slow pan-and-zoom over the theme's scene as an H.264 mp4 (PyAV).

    Inputs: the theme, the output path, clip length, frame size (even width and
    height, as H.264 4:2:0 needs), frame rate. Output: ``out_path``. The camera drifts
    left to right while zooming in by 12 %, with eased start and end. Deterministic:
    the same theme and settings give the same file (single-threaded x264, no
    timestamps in the container).
    """
    import av

    w_out, h_out = size
    if w_out % 2 or h_out % 2 or w_out <= 0 or h_out <= 0:
        raise ValueError(f"frame size must be positive and even, got {size}")
    n_frames = max(1, round(seconds * fps))
    aspect = w_out / h_out
    view_h0 = _CANVAS_H * 0.85  # the widest view shows the lower 85 % of the scene
    canvas_w = int(math.ceil(view_h0 * aspect * 1.7))
    scene = compose_theme(pair, canvas_w)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp.mp4")
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w_out, h_out, "yuv420p"
        stream.options = {"crf": "23", "preset": "medium", "threads": "1"}
        stream.codec_context.thread_count = 1
        for i in range(n_frames):
            t = i / (n_frames - 1) if n_frames > 1 else 0.0
            e = t * t * (3 - 2 * t)  # smoothstep: the camera eases in and out
            view_h = view_h0 / (1.0 + 0.12 * e)
            view_w = view_h * aspect
            x0 = e * (canvas_w - view_w)
            y0 = _CANVAS_H - view_h - 0.02 * _CANVAS_H * (1 - e)
            frame_img = scene.resize(
                (w_out, h_out), Image.BILINEAR, box=(x0, y0, x0 + view_w, y0 + view_h)
            )
            # Converted here: left to the encoder, the conversion made the same clip come
            # out in two different encodings from run to run.
            frame = av.VideoFrame.from_ndarray(np.asarray(frame_img), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, out_path)
    return out_path


# --------------------------------------------------------------------------- pairs file


def _link_or_copy(src: Path, dst: Path) -> None:
    # A hard link costs no space and, unlike a symlink, survives moving out_dir.
    if dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def build_hedgewars_pairs(
    root: Path,
    out_dir: Path,
    progress: Callable[[str], None] | None = None,
    *,
    seconds: float = 8.0,
    size: tuple[int, int] = (640, 360),
    fps: int = 24,
    overwrite: bool = False,
) -> Path:
    """Render every theme's clip and write ``out_dir/pairs.jsonl``.

    Inputs: ``root`` holding the unpacked ``hedgewars-data`` (see
    :func:`find_data_dir`), the output folder, a progress callback and clip settings.
    Writes ``out_dir/clips/<theme>.mp4``, the music as ``out_dir/music/<file>`` (hard
    link, or copy across file systems; the same bytes and name as in the package) and
    ``out_dir/pairs.jsonl`` with ``{"id", "game", "video", "track", "source"}`` per line,
    relative paths.
    Existing clips are kept unless ``overwrite``. Returns the pairs file's path.
    """
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    pairs = theme_pairs(root, say)
    lines = []
    for pair in pairs:
        clip = out_dir / "clips" / f"{_safe(pair.theme)}.mp4"
        if overwrite or not clip.is_file():
            say(f"{pair.theme}: rendering {clip.name}")
            render_theme_clip(pair, clip, seconds=seconds, size=size, fps=fps)
        music = out_dir / "music" / pair.music_path.name
        _link_or_copy(pair.music_path, music)
        lines.append(
            {
                "id": pair.theme,
                "game": "hedgewars",
                "video": clip.relative_to(out_dir).as_posix(),
                "track": music.relative_to(out_dir).as_posix(),
                # The file that names the theme's music, as the scene games' lines name theirs.
                "source": {"package": PACKAGE, "path": (DATA_SUBDIR / "Themes" / pair.theme / "theme.cfg").as_posix()},
            }
        )
    pairs_path = out_dir / "pairs.jsonl"
    tmp = pairs_path.with_name(pairs_path.name + ".tmp")
    tmp.write_text("".join(json.dumps(d) + "\n" for d in lines))
    os.replace(tmp, pairs_path)
    n_tracks = len({d["track"] for d in lines})
    say(f"{len(lines)} pairs ({n_tracks} distinct tracks) -> {pairs_path}")
    return pairs_path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "theme"


def main(argv: list[str] | None = None) -> int:
    """``python -m core.data.hedgewars ROOT OUT_DIR``: build the Hedgewars pairs."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("root", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    build_hedgewars_pairs(args.root, args.out_dir, progress=print, overwrite=args.overwrite)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
