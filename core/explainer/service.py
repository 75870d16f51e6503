"""The explainer as a worker holds it: picks in (track ids), checked explanations out.

``core.engine.Engine`` calls ``load_explainer(settings)`` once per process and then
``explain_picks(video, picks, preference)`` for each turn. Track facts come from SQL and
music features from the catalog's feature files, so callers pass only ids. What the
explainer may say about the video is the analysis's measured facts (``video.facts``), never
classifier labels; an analysis without facts gets explanations that say nothing about it.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.config import Settings
from core.explainer.data import features_path, load_pooled, top_tags
from core.explainer.facts import PickContext, TrackFacts
from core.explainer.guard import Explanation
from core.explainer.model import Explainer
from core.video_facts import VideoFacts


class PickExplainer:
    """Explains a turn's picks in one batched call, with every catalog title guarded."""

    def __init__(self, explainer: Explainer, settings: Settings, database_url: str | None = None):
        self.explainer, self.settings, self.database_url = explainer, settings, database_url
        self._titles: dict[int, str] = {}

    def _refresh_titles(self, session) -> None:
        from sqlalchemy import select

        from core.db.models import Track

        self._titles = {row.id: row.title for row in session.execute(select(Track.id, Track.title))}
        self.explainer.known_titles = set(self._titles.values())

    def contexts(self, track_ids: Sequence[int], video: VideoFacts | None,
                 preference: str | None) -> list[PickContext]:
        """Facts + music features for each track id (in order); unknown ids are skipped."""
        from core.db.models import Track
        from core.db.session import session_scope

        out = []
        with session_scope(self.database_url) as session:
            if not self._titles or any(i not in self._titles for i in track_ids):
                self._refresh_titles(session)  # the catalog grew since the last turn
            for track_id in track_ids:
                track = session.get(Track, track_id)
                if track is None:
                    continue
                path = features_path(self.settings, track.content_hash)
                if not path.exists():
                    continue
                facts = TrackFacts(track.id, track.title, track.artist, top_tags(track.tags), track.tempo_bpm,
                                   track.instrumental, track.duration_s, track.licence)
                out.append(PickContext(facts, load_pooled(path), video, preference))
        return out

    def explain_picks(self, video, picks, preference: str | None = None) -> list[Explanation]:
        """One explanation per pick (``picks``: objects with ``track_id``), in order.

        ``video`` provides ``facts`` (a ``VideoFacts``, or None when they were not measured).
        A pick whose facts or features are missing gets a plain flagged sentence instead of
        failing the turn.
        """
        ids = [p.track_id for p in picks]
        contexts = {c.track.track_id: c for c in self.contexts(ids, getattr(video, "facts", None), preference)}
        generated = dict(zip(contexts, self.explainer.explain(list(contexts.values())), strict=True))
        return [generated.get(i, Explanation("Picked for how its audio matches your video.", True, ("no_facts",)))
                for i in ids]


def load_explainer(settings: Settings, database_url: str | None = None) -> PickExplainer:
    """The trained explainer for the active profile (see ``Explainer.load``)."""
    return PickExplainer(Explainer.load(settings), settings, database_url)
