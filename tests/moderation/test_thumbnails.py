"""Thumbnail strips: decoded in a child process, cached; a bad file is tried once."""

from __future__ import annotations

from PIL import Image

from core.moderation import thumbnails
from tests.media import write_video


def test_strip_of_a_real_video_is_cached(settings, tmp_path):
    video = write_video(tmp_path / "clip.mp4", seconds=2.0, width=80, height=48)
    strip = thumbnails.thumbnail_strip(video, "f" * 64, settings)
    assert strip == thumbnails.strip_path(settings, "f" * 64)
    with Image.open(strip) as img:
        assert img.format == "JPEG" and img.size == (thumbnails.FRAMES * thumbnails.SIZE, thumbnails.SIZE)
        # The test video ramps from dark to light: the last frame is brighter than the first.
        first = img.crop((0, 0, thumbnails.SIZE, thumbnails.SIZE)).convert("L").getextrema()[1]
        last = img.crop((img.width - thumbnails.SIZE, 0, img.width, thumbnails.SIZE)).convert("L").getextrema()[0]
        assert last > first
    video.unlink()  # served from the cache from now on
    assert thumbnails.thumbnail_strip(video, "f" * 64, settings) == strip
    assert thumbnails.cached_hashes(settings) == {"f" * 64}


def test_undecodable_file_gets_no_strip_and_is_not_retried(settings, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    assert thumbnails.thumbnail_strip(bad, "e" * 64, settings) is None
    assert [p.suffix for p in thumbnails.cached_files(settings, "e" * 64)] == [".failed"]
    bad.write_bytes(b"still garbage")  # not decoded again
    assert thumbnails.thumbnail_strip(bad, "e" * 64, settings) is None
