"""Deleting a user's data never deletes files outside the data directory."""

from __future__ import annotations

from core.config import get_settings
from core.files import remove_stored_files


def test_only_files_under_the_data_dir_are_removed(tmp_path):
    settings = get_settings()
    inside = settings.data_dir / "media" / "ab" / "abc.mp4"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"x")
    outside = tmp_path / "someone-elses-video.mp4"
    outside.write_bytes(b"y")
    sneaky = settings.data_dir / "media" / ".." / ".." / "someone-elses-video.mp4"
    skipped = remove_stored_files([inside, outside, sneaky, settings.data_dir / "missing.mp4"], settings)
    assert not inside.exists()
    assert outside.exists() and len(skipped) == 2
