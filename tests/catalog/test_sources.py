"""Catalog sources: metadata and licence mapping on a small fake unpacked package tree."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.catalog import sources
from core.catalog.sources import (
    DEMO_PACKAGES,
    AptUnavailableError,
    PackageFetchError,
    ReservedPackageError,
    demo_tracks,
    detect_licence,
    fetch_packages,
    parse_copyright,
    prettify_filename,
)

PKG = "fakegame-music"

DEP5 = f"""\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Fake Game

Files: *
Copyright: 2020 Fake Game Team
License: GPL-2+

Files: music/special.ogg
       music/other-special.ogg
Copyright: Jane Composer (https://jane.example)
License: CC-BY-SA-3.0

Files: songs/*
Copyright: 2019 Rock Band
License: CC-BY-4.0

Files: debian/*
Copyright: 2021 Packager
License: GPL-2+

License: GPL-2+
 This program is free software.
 .
 More text.
"""


def _ogg(path: Path, seconds: float, freq: float = 440.0, sr: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr,
             format="OGG", subtype="VORBIS")
    return path


def _fake_package(root: Path) -> Path:
    pkg = root / PKG
    (pkg / "usr/share/doc" / PKG).mkdir(parents=True)
    (pkg / "usr/share/doc" / PKG / "copyright").write_text(DEP5)
    game = pkg / "usr/share/games/fakegame"
    _ogg(game / "music/special.ogg", 3.0)
    _ogg(game / "music/main_theme.ogg", 3.0)
    tagged = _ogg(game / "music/tagged.ogg", 3.0)
    _ogg(game / "sounds/boom.ogg", 0.5)  # a sound effect: too short to be music
    os.symlink("../music/main_theme.ogg", game / "sounds/main_theme_link.ogg")

    from mutagen.oggvorbis import OggVorbis

    f = OggVorbis(tagged)
    f["title"], f["artist"], f["album"], f["genre"] = "Tagged Tune", "Tag Artist", "none", "Ambient"
    f.save()

    song = game / "songs/my_song"
    _ogg(song / "song.ogg", 3.0, 220.0)
    _ogg(song / "guitar.ogg", 3.0, 660.0)
    (song / "song.ini").write_text(
        "[song]\nname = My Song\nartist = Composed and performed by Foo - www.foo.example\n"
        "scores = 0a0b\n"
    )
    return pkg


def _by_name(tracks):
    return {t.path.name if t.path.name != "full_mix.ogg" else "fof": t for t in tracks}


def test_metadata_and_licence_mapping(tmp_path):
    pkg = _fake_package(tmp_path)
    sources.mix_fof_song(pkg / "usr/share/games/fakegame/songs/my_song")
    tracks = demo_tracks(tmp_path, min_seconds=2.0)
    got = _by_name(tracks)
    # boom.ogg is too short; the symlinked copy of main_theme counts once.
    assert sorted(got) == ["fof", "main_theme.ogg", "special.ogg", "tagged.ogg"]

    special = got["special.ogg"]
    assert special.licence == "CC-BY-SA-3.0"  # file-specific DEP-5 paragraph wins
    assert special.artist == "Jane Composer"  # its single copyright holder
    assert special.title == "Special"
    assert "Jane Composer" in special.attribution and "CC-BY-SA-3.0" in special.attribution
    assert special.source == PKG
    assert special.key == f"{PKG}/usr/share/games/fakegame/music/special.ogg"

    main = got["main_theme.ogg"]
    assert (main.title, main.artist, main.licence) == ("Main Theme", None, "GPL-2+")
    assert main.copyright == "2020 Fake Game Team"
    assert main.metadata_from == "filename"

    tagged = got["tagged.ogg"]
    assert (tagged.title, tagged.artist, tagged.genre) == ("Tagged Tune", "Tag Artist", "Ambient")
    assert tagged.album == "Fake Game"  # the "none" tag is dropped; DEP-5 Upstream-Name

    fof = got["fof"]
    assert (fof.title, fof.artist) == ("My Song", "Foo")
    assert fof.licence == "CC-BY-4.0"
    assert fof.metadata_from.startswith("song.ini")
    assert [s.name for s in fof.stems] == ["song.ogg", "guitar.ogg"]
    assert 2.9 < fof.duration_s < 3.1
    assert all(t.size_bytes > 0 for t in tracks)


def test_fof_mix_sums_the_stems(tmp_path):
    pkg = _fake_package(tmp_path)
    song = pkg / "usr/share/games/fakegame/songs/my_song"
    mix = sources.mix_fof_song(song)
    assert mix.name == "full_mix.ogg"
    data, sr = sf.read(mix)
    assert sr == 8000 and abs(len(data) / sr - 3.0) < 0.05
    # Both stems are audible: the spectrum has peaks at 220 Hz and 660 Hz.
    spec = np.abs(np.fft.rfft(data[:8000]))
    freqs = np.fft.rfftfreq(8000, 1 / sr)
    top = set(np.round(freqs[np.argsort(spec)[-2:]]).astype(int))
    assert top == {220, 660}


def test_fof_without_mix_uses_backing_track(tmp_path):
    _fake_package(tmp_path)
    fof = [t for t in demo_tracks(tmp_path, min_seconds=2.0) if t.title == "My Song"][0]
    assert fof.path.name == "song.ogg" and fof.stems == ()


def test_duplicate_tag_titles_are_ignored(tmp_path):
    pkg = _fake_package(tmp_path)
    from mutagen.oggvorbis import OggVorbis

    for name in ("special.ogg", "main_theme.ogg"):
        f = OggVorbis(pkg / "usr/share/games/fakegame/music" / name)
        f["title"] = "Copied Title"
        f.save()
    got = _by_name(demo_tracks(tmp_path, min_seconds=2.0))
    assert got["special.ogg"].title == "Special"
    assert got["main_theme.ogg"].title == "Main Theme"


def test_dep5_globs_match_installed_path_suffix():
    info = parse_copyright(DEP5)
    assert info.lookup("usr/share/games/fakegame/music/special.ogg")[:2] == (
        "CC-BY-SA-3.0", "Jane Composer (https://jane.example)")
    assert info.lookup("usr/share/x/music/not-special.ogg")[0] == "GPL-2+"
    assert info.lookup("usr/share/x/songs/a/b/song.ogg")[0] == "CC-BY-4.0"
    assert info.lookup("usr/share/x/music/special.ogg")[2] is True
    assert info.lookup("usr/share/x/y.ogg")[2] is False


@pytest.mark.parametrize(
    "text, licence",
    [
        ("you can redistribute it under the terms of the GNU General Public License\n"
         "as published by the Free Software Foundation; either version 2\n"
         "of the License, or (at your option) any later version.", "GPL-2+"),
        ("licenced under the terms of the Creative Commons Attribution ShareAlike "
         "licence 3.0", "CC-BY-SA-3.0"),
        ("see http://creativecommons.org/licenses/by-sa/3.0 for details", "CC-BY-SA-3.0"),
        ("Permission is hereby granted, free of charge, to any person", "Expat"),
        ("All rights reserved.", "unknown"),
    ],
)
def test_detect_free_form_licence(text, licence):
    assert detect_licence(text) == licence


def test_free_form_copyright_file():
    info = parse_copyright(
        "This package was debianized by Someone <a@debian.org>\n\n"
        "Copyright (C) 2007-2008,2012 Max Composer\n\n"
        "GNU General Public License version 2 or any later version\n"
    )
    assert info.stanzas == []
    assert info.licence == "GPL-2+"
    assert info.copyright == "2007-2008,2012 Max Composer"


def test_prettify_filename():
    assert prettify_filename("MarineAlienRaid") == "Marine Alien Raid"
    assert prettify_filename("track6") == "Track 6"
    assert prettify_filename("hr3-caves") == "Hr3 Caves"
    assert prettify_filename("legends_of_the_north") == "Legends Of The North"


def test_pk3_audio_unpacked_next_to_archive(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    ogg = _ogg(tmp_path / "x.ogg", 0.2)
    with zipfile.ZipFile(base / "0music.pk3", "w") as z:
        z.write(ogg, "music/x.ogg")
        z.writestr("maps/readme.txt", "not audio")
        z.writestr("../evil.ogg", b"escape attempt")
    assert sources.unpack_pk3_audio(base / "0music.pk3") == 1
    assert (base / "music/x.ogg").read_bytes() == ogg.read_bytes()
    assert not (base / "maps").exists() and not (tmp_path / "evil.ogg").exists()


# --------------------------------------------------------------------------- guard


@pytest.mark.parametrize("name", ["supertuxkart-data", "neverball-data", "neverball-common",
                                  "neverputt-data", "SuperTuxKart-data"])
def test_guard_refuses_reserved_packages(tmp_path, name, monkeypatch):
    def no_subprocess(*a, **k):
        raise AssertionError("nothing may be run for a reserved package")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    with pytest.raises(ReservedPackageError):
        fetch_packages(tmp_path / "dest", ["wesnoth-1.16-music", name])
    assert not (tmp_path / "dest").exists()


def test_guard_refuses_reserved_package_on_disk(tmp_path):
    _fake_package(tmp_path)
    (tmp_path / "neverball-data/usr/share").mkdir(parents=True)
    with pytest.raises(ReservedPackageError):
        demo_tracks(tmp_path)


def test_demo_packages_are_not_reserved():
    assert not any(sources.is_reserved(p) for p in DEMO_PACKAGES)
    for needed in ("wesnoth-1.16-music", "warzone2100-music", "nexuiz-music",
                   "fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid", "hedgewars-data"):
        assert needed in DEMO_PACKAGES


# --------------------------------------------------------------------------- fetching


def test_missing_apt_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(AptUnavailableError, match="apt-get"):
        fetch_packages(tmp_path, ["fakegame-music"])


@pytest.mark.skipif(shutil.which("dpkg-deb") is None or shutil.which("dpkg") is None,
                    reason="needs dpkg-deb to build a test package")
def test_fetch_is_idempotent_and_reports_failures(tmp_path, monkeypatch):
    # A real .deb built locally, served by a stand-in apt-get that logs its calls.
    tree = tmp_path / "build"
    _fake_package(tree)
    pkg_tree = tree / PKG
    (pkg_tree / "DEBIAN").mkdir()
    (pkg_tree / "DEBIAN/control").write_text(
        f"Package: {PKG}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@t>\n"
        "Description: test\n"
    )
    deb = tmp_path / f"{PKG}_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg_tree), str(deb)],
                   check=True, capture_output=True)

    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "apt.log"
    fake = bindir / "apt-get"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        f'if [ "$1" = download ] && [ "$3" = {PKG} ]; then cp {deb} .; exit 0; fi\n'
        'echo "E: Unable to locate package $3" >&2; exit 100\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # as a normal user: no apt-get update

    dest = tmp_path / "dest"
    msgs: list[str] = []
    with pytest.raises(PackageFetchError) as err:
        fetch_packages(dest, [PKG, "no-such-package"], progress=msgs.append)
    assert list(err.value.failed) == ["no-such-package"]
    assert "apt-get update" in err.value.failed["no-such-package"]
    assert err.value.fetched == [dest / PKG]
    assert (dest / PKG / "usr/share/doc" / PKG / "copyright").is_file()
    # Frets on Fire stems were mixed while preparing the package.
    assert (dest / PKG / "usr/share/games/fakegame/songs/my_song/full_mix.ogg").is_file()
    downloads = log.read_text().count(f"download -q {PKG}")
    assert downloads == 1

    # Second run: nothing downloaded or extracted again.
    assert fetch_packages(dest, [PKG], progress=msgs.append) == [dest / PKG]
    assert log.read_text().count(f"download -q {PKG}") == 1
    assert msgs[-1] == f"{PKG}: already extracted"

    # A lost extraction is redone from the cached .deb, still without a download.
    shutil.rmtree(dest / PKG)
    fetch_packages(dest, [PKG])
    assert log.read_text().count(f"download -q {PKG}") == 1
    assert len(demo_tracks(dest, min_seconds=2.0)) == 4
