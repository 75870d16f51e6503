"""Export a filtered set of conversations as CSV (one row per pick) or JSON (nested).

:func:`begin_export` fixes the set and writes the audit entry (with every conversation
id) before a byte is sent; :func:`iter_csv` / :func:`iter_json` then stream it in batches,
so a large export never sits in memory whole.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.db.models import Conversation, Pick, Turn
from core.db.session import session_scope
from core.moderation import audit
from core.moderation.queries import ConversationFilter, matching_ids

BATCH = 200
FORMATS = ("csv", "json")
CSV_COLUMNS = [
    "conversation_id", "platform", "workspace_id", "channel_id", "thread_id", "user_id", "user_name",
    "conversation_created_at", "flagged", "turn_index", "turn_status", "feedback", "error",
    "turn_created_at", "turn_finished_at", "rank", "track_id", "title", "artist", "score",
    "explanation", "reactions",
]
# Spreadsheet programs run cells that start with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def begin_export(flt: ConversationFilter, fmt: str, moderator: str, *, url: str | None = None) -> list[int]:
    """The ids to export, newest first; writes the audit entry (who, filters, which ids)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    with session_scope(url) as s:
        ids = matching_ids(s, flt)
        audit.record(s, moderator, "export", "conversations", format=fmt, filters=flt.to_params(),
                     count=len(ids), conversation_ids=ids)
    return ids


def _batches(ids: list[int], url: str | None) -> Iterator[list[Conversation]]:
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        with session_scope(url) as s:
            convs = s.scalars(select(Conversation).where(Conversation.id.in_(chunk)).options(
                selectinload(Conversation.turns).selectinload(Turn.picks).selectinload(Pick.track),
                selectinload(Conversation.turns).selectinload(Turn.picks).selectinload(Pick.reactions))).all()
            order = {cid: i for i, cid in enumerate(chunk)}
            yield sorted(convs, key=lambda c: order[c.id])  # deleted meanwhile: simply absent


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def conversation_record(c: Conversation) -> dict:
    """One conversation as exported (JSON-ready)."""
    return {
        "id": c.id, "platform": c.platform, "workspace_id": c.workspace_id, "channel_id": c.channel_id,
        "thread_id": c.thread_id, "user_id": c.user_id, "user_name": c.user_name,
        "created_at": _iso(c.created_at), "updated_at": _iso(c.updated_at), "flagged": c.flagged,
        "turns": [{
            "index": t.index, "status": t.status.value, "feedback": t.feedback_text, "error": t.error,
            "filters": t.filters, "timings": t.timings, "created_at": _iso(t.created_at),
            "finished_at": _iso(t.finished_at),
            "picks": [{
                "rank": p.rank, "track_id": p.track_id, "title": p.track.title, "artist": p.track.artist,
                "score": round(p.score, 4), "explanation": p.explanation,
                "reactions": [{"user_id": r.user_id, "kind": r.kind.value, "at": _iso(r.created_at)}
                              for r in p.reactions],
            } for p in t.picks],
        } for t in c.turns],
    }


def _cell(value) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def iter_csv(ids: list[int], *, url: str | None = None) -> Iterator[str]:
    """CSV text in pieces: a header, then one row per pick (a turn without picks: one row)."""
    buf = io.StringIO()
    writer = csv.writer(buf)

    def flush() -> str:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for convs in _batches(ids, url):
        for c in convs:
            head = [c.id, c.platform, c.workspace_id, c.channel_id, c.thread_id, c.user_id, c.user_name,
                    _iso(c.created_at), c.flagged]
            for t in c.turns:
                turn = [t.index, t.status.value, t.feedback_text, t.error, _iso(t.created_at), _iso(t.finished_at)]
                picks = t.picks or [None]
                for p in picks:
                    pick = ([p.rank, p.track_id, p.track.title, p.track.artist, round(p.score, 4), p.explanation,
                             ";".join(f"{r.kind.value}:{r.user_id}" for r in p.reactions)]
                            if p is not None else [None] * 7)
                    writer.writerow([_cell(v) for v in head + turn + pick])
        yield flush()


def iter_json(ids: list[int], *, url: str | None = None) -> Iterator[str]:
    """A JSON document in pieces: ``{"conversations": [...], "count": N}``."""
    yield '{"conversations": ['
    written = 0
    for convs in _batches(ids, url):
        parts = []
        for c in convs:
            parts.append(("" if not written else ",\n") + json.dumps(conversation_record(c), ensure_ascii=False))
            written += 1
        yield "".join(parts)
    yield f'], "count": {written}}}\n'
