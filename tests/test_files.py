"""Deleting a user's data never deletes files outside the data directory; manifests name
data without one machine's folders or a database password."""

from __future__ import annotations

from core.config import get_settings
from core.files import manifest_database, manifest_path, remove_stored_files


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


def test_manifests_name_data_portably_and_never_a_password(tmp_path):
    settings = get_settings()
    assert manifest_path(settings.data_dir / "datasets" / "conversations", settings) == "DATA_DIR/datasets/conversations"
    assert manifest_path(tmp_path / "elsewhere", settings) == str(tmp_path / "elsewhere")
    assert manifest_database(settings.model_copy(update={"database_url": None})) == "DATA_DIR/musechat.db"
    pg = settings.model_copy(update={"database_url": "postgresql+psycopg://mc:s3cret@db:5432/musechat"})
    assert manifest_database(pg) == "postgresql+psycopg://mc:***@db:5432/musechat"
