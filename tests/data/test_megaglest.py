"""MegaGlest factions written by hand in the game's XML: which loading screen and music pair up."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.megaglest import megaglest_pairs
from tests.data.test_scenes import _ogg, _textured_png

FACTIONS = Path("megaglest-data/usr/share/games/megaglest/techs/megapack/factions")


def _faction(root: Path, name: str, music: str | None, screen: bool = True, value: str = "true") -> Path:
    d = root / FACTIONS / name
    d.mkdir(parents=True)
    tag = f'\t<music value="{value}" path="{music}"/>\n' if music else ""
    (d / f"{name}.xml").write_text(
        '<?xml version="1.0" standalone="yes"?>\n<faction>\n\t<starting-resources>\n'
        '\t\t<resource name="gold" amount="3500"/>\n\t</starting-resources>\n'
        f'{tag}</faction>\n')
    if screen:
        _textured_png(d / "loading_screen.png", (320, 256), len(name))
    return d


def test_megaglest_pairs(tmp_path):
    romans = _faction(tmp_path, "romans", "music/romans.ogg")
    _ogg(romans / "music/romans.ogg", 21, 300)
    _faction(tmp_path, "quiet", None)  # no music of its own
    # Music on disk, but switched off / no loading screen.
    for name, kw in (("muted", {"value": "false"}), ("blind", {"screen": False})):
        _ogg(_faction(tmp_path, name, "music/romans.ogg", **kw) / "music/romans.ogg", 21, 300)
    _faction(tmp_path, "gone", "music/gone.ogg")  # names a file that is not there
    pairs = megaglest_pairs(tmp_path)
    assert [(p.id, p.music_rel) for p in pairs] == [("megapack/romans", "romans/romans.ogg")]
    assert pairs[0].source == romans / "romans.xml"
    still = np.asarray(pairs[0].compose())
    assert still.shape == (256, 320, 3) and still.std() > 20  # the loading screen itself
