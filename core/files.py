"""Files under the data directory: deleting them safely, and naming them in manifests.

A database row may name a file elsewhere (a path given on the command line, a file a
test or an operator pointed at); deleting a user's data must never reach outside.
A manifest shipped with a checkpoint names data as ``DATA_DIR/...`` and a database
without its password, so it tells how it was made without naming one machine's folders
or secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from core.config import Settings

log = logging.getLogger(__name__)


def remove_stored_files(paths: Iterable[str | Path], settings: Settings) -> list[str]:
    """Unlink each path that lies inside ``settings.data_dir``; return the ones left alone."""
    root = settings.data_dir.resolve()
    skipped = []
    for path in paths:
        p = Path(path)
        try:
            resolved = p.resolve()
        except OSError:
            continue
        if not resolved.is_relative_to(root):
            log.warning("not deleting %s: outside the data directory %s", p, root)
            skipped.append(str(p))
            continue
        try:
            resolved.unlink(missing_ok=True)
        except OSError:  # logged, not fatal: the rows are gone and a later sweep retries orphans
            log.warning("could not remove %s", p, exc_info=True)
    return skipped


def manifest_path(path: str | Path, settings: Settings) -> str:
    """``DATA_DIR/<relative path>`` for a path under the data directory, else the path."""
    try:
        return "DATA_DIR/" + Path(path).resolve().relative_to(settings.data_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def manifest_database(settings: Settings) -> str:
    """The configured database as a manifest records it: a SQLite file as a path, any other
    database as its URL without the password."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return manifest_path(url.database, settings)
    return url.render_as_string(hide_password=True)
