"""Deleting stored files safely: only what MuseChat itself wrote under its data directory.

A database row may name a file elsewhere (a path given on the command line, a file a
test or an operator pointed at); deleting a user's data must never reach outside.
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
