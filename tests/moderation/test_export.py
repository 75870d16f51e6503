"""Exports: the filtered set, every turn and pick, spreadsheet-safe CSV, the audit entry."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from core.db.models import AuditLog
from core.db.session import session_scope
from core.moderation import export
from core.moderation.queries import ConversationFilter
from tests.moderation.seed import add_conversation, add_tracks


def test_csv_and_json_hold_the_filtered_set(sqlite_db, monkeypatch):
    monkeypatch.setattr(export, "BATCH", 2)  # several batches
    add_tracks(sqlite_db)
    wanted = [add_conversation(sqlite_db, platform="slack", user_id=f"U{i}", feedback=[None, f"calmer {i}"],
                               reactions=[("U9", "like")]) for i in range(3)]
    failed = add_conversation(sqlite_db, platform="slack", user_id="U5", feedback=["=HYPERLINK(\"http://x\")", "-1+2"],
                              failed=True)
    add_conversation(sqlite_db, platform="discord")
    flt = ConversationFilter(platform="slack")

    ids = export.begin_export(flt, "csv", "ada", url=sqlite_db)
    assert ids == [failed, *wanted[::-1]]
    rows = list(csv.DictReader(io.StringIO("".join(export.iter_csv(ids, url=sqlite_db)))))
    assert list(rows[0]) == export.CSV_COLUMNS
    # 3 conversations x 2 turns x 3 picks, plus 3 picks and one failed turn without picks.
    assert len(rows) == 3 * 2 * 3 + 3 + 1
    assert {r["platform"] for r in rows} == {"slack"}
    first_pick = next(r for r in rows if r["conversation_id"] == str(wanted[0]) and r["turn_index"] == "0")
    assert (first_pick["rank"], first_pick["title"], first_pick["reactions"]) == ("1", "Track 0", "like:U9")
    # Cells a spreadsheet would run as formulas are quoted.
    quoted = {r["feedback"] for r in rows if r["conversation_id"] == str(failed)}
    assert quoted == {"'=HYPERLINK(\"http://x\")", "'-1+2"}
    assert next(r for r in rows if r["turn_status"] == "failed")["rank"] == ""

    data = json.loads("".join(export.iter_json(export.begin_export(flt, "json", "ada", url=sqlite_db), url=sqlite_db)))
    assert data["count"] == 4 and [c["id"] for c in data["conversations"]] == ids
    turn = data["conversations"][1]["turns"][1]
    assert turn["feedback"] == "calmer 2" and len(turn["picks"]) == 3 and turn["picks"][0]["explanation"]
    with session_scope(sqlite_db) as s:
        entries = s.scalars(select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id)).all()
    assert [(e.actor, e.details["format"], e.details["count"]) for e in entries] == [("ada", "csv", 4),
                                                                                     ("ada", "json", 4)]
    assert entries[0].details["conversation_ids"] == ids and entries[0].details["filters"] == {"platform": "slack"}


def test_an_empty_set_is_still_valid():
    assert json.loads("".join(export.iter_json([]))) == {"conversations": [], "count": 0}
    assert "".join(export.iter_csv([])).strip() == ",".join(export.CSV_COLUMNS)
