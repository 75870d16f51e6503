"""Logged conversations for console tests and the list benchmark, written straight to SQL.

Shapes follow what the service stores: one conversation per video thread, turn 0 with
an optional note, later turns with feedback, three picks per finished turn, reactions,
flags, failed turns with their user-facing error. Rows are bulk-inserted (Core
``insert``), so 10,000 conversations take seconds, not minutes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from core.db.models import Conversation, Flag, Pick, Reaction, Track, Turn, Video
from core.db.session import session_scope

PLATFORMS = ("discord", "slack", "web")
FEEDBACK = [
    "more upbeat, no vocals", "calmer please", "something with piano", "darker, slower",
    "under 2 minutes", "around 120 bpm", "more drums", "brighter and happier", "less noise",
    "like the second one but faster", "no singing", "epic orchestral",
]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
DAMAGED = "That video seems to be damaged or cut off, so I couldn't decode it."


@dataclass
class Seeded:
    conversation_ids: list[int] = field(default_factory=list)
    track_ids: list[int] = field(default_factory=list)


def add_tracks(url: str, n: int = 6, *, audio_dir=None) -> list[int]:
    """``n`` catalog tracks; with ``audio_dir``, each gets a real (tiny) WAV file there."""
    import wave

    ids = []
    with session_scope(url) as s:
        for i in range(n):
            path = f"/nonexistent/track{i}.wav"
            if audio_dir is not None:
                audio_dir.mkdir(parents=True, exist_ok=True)
                p = audio_dir / f"track{i}.wav"
                with wave.open(str(p), "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(8000)
                    w.writeframes(bytes(range(256)) * 64)
                path = str(p)
            t = Track(content_hash=f"{i:064x}", path=path, title=f"Track {i}", artist=f"Artist {i % 3}",
                      duration_s=30.0 + i, licence="CC0-1.0", tags={"mtt": {"piano": 0.8, "calm": 0.5 + i / 20}},
                      tempo_bpm=80.0 + 10 * i, vocal_prob=0.2)
            s.add(t)
            s.flush()
            ids.append(t.id)
    return ids


def add_conversation(url: str, *, platform: str = "discord", user_id: str = "u1", user_name: str | None = "User One",
                     workspace_id: str | None = "W1", channel_id: str | None = "C1",
                     feedback: list[str | None] | None = None, failed: bool = False, flagged_reason: str | None = None,
                     created_at: datetime | None = None, track_ids: list[int] | None = None,
                     video_path: str | None = None, video_hash: str | None = None,
                     reactions: list[tuple[str, str]] = ()) -> int:
    """One conversation with a turn per ``feedback`` entry (first entry: turn 0's note)."""
    created = created_at or NOW
    feedback = feedback if feedback is not None else [None, "more upbeat"]
    with session_scope(url) as s:
        if track_ids is None:
            track_ids = list(s.scalars(select(Track.id).order_by(Track.id).limit(3)))
        video_id = None
        if video_path is not None or video_hash is not None:
            h = video_hash or f"v{random.random()}".ljust(64, "0")[:64]
            video = s.scalar(select(Video).where(Video.content_hash == h))
            if video is None:
                video = Video(content_hash=h, path=video_path, filename="clip.mp4", size_bytes=1234,
                              created_at=created)
                s.add(video)
                s.flush()
            video_id = video.id
        conv = Conversation(platform=platform, workspace_id=workspace_id, channel_id=channel_id,
                            thread_id=f"th-{random.randrange(10**9)}", user_id=user_id, user_name=user_name,
                            video_id=video_id, flagged=bool(flagged_reason), created_at=created,
                            updated_at=created + timedelta(minutes=len(feedback)))
        s.add(conv)
        s.flush()
        for i, text in enumerate(feedback):
            is_failed = failed and i == len(feedback) - 1
            turn = Turn(conversation_id=conv.id, index=i, feedback_text=text,
                        status="failed" if is_failed else "done",
                        error=DAMAGED if is_failed else None, timings={"search": 0.01, "explain": 0.5},
                        attempts=1, created_at=created + timedelta(minutes=i),
                        finished_at=created + timedelta(minutes=i, seconds=3))
            s.add(turn)
            s.flush()
            if not is_failed:
                for rank, tid in enumerate(track_ids[:3], start=1):
                    pick = Pick(turn_id=turn.id, rank=rank, track_id=tid, score=0.5 - rank / 10,
                                explanation=f"Pick {rank} fits the pace of the video.")
                    s.add(pick)
                    s.flush()
                    for r_user, kind in reactions if (i == 0 and rank == 1) else ():
                        s.add(Reaction(pick_id=pick.id, user_id=r_user, kind=kind))
        if flagged_reason:
            s.add(Flag(conversation_id=conv.id, moderator="seed", reason=flagged_reason))
        return conv.id


def bulk(url: str, n: int, *, seed: int = 1, batch: int = 2000) -> Seeded:
    """``n`` conversations spread over 90 days before NOW: 100 users, 5 workspaces per
    platform, 2 turns each with 3 picks; ~2% flagged, ~3% with a failed turn."""
    rng = random.Random(seed)
    out = Seeded(track_ids=add_tracks(url, 20))
    with session_scope(url) as s:
        conv_id = (s.scalar(select(Conversation.id).order_by(Conversation.id.desc()).limit(1)) or 0) + 1
        turn_id = (s.scalar(select(Turn.id).order_by(Turn.id.desc()).limit(1)) or 0) + 1
    for start in range(0, n, batch):
        convs, turns, picks, flags = [], [], [], []
        for _ in range(min(batch, n - start)):
            platform = PLATFORMS[rng.randrange(3)]
            created = NOW - timedelta(seconds=rng.randrange(90 * 86400))
            flagged = rng.random() < 0.02
            convs.append({"id": conv_id, "platform": platform, "workspace_id": f"{platform[0]}W{rng.randrange(5)}",
                          "channel_id": f"C{rng.randrange(20)}", "thread_id": f"th{conv_id}",
                          "user_id": f"u{rng.randrange(100)}", "user_name": None, "video_id": None,
                          "status": "active", "flagged": flagged, "created_at": created,
                          "updated_at": created + timedelta(minutes=2)})
            if flagged:
                flags.append({"conversation_id": conv_id, "moderator": "seed", "reason": "seeded",
                              "active": True, "created_at": created})
            failed = rng.random() < 0.03
            for index in range(2):
                is_failed = failed and index == 1
                turns.append({"id": turn_id, "conversation_id": conv_id, "index": index,
                              "feedback_text": None if index == 0 else rng.choice(FEEDBACK),
                              "filters": {}, "status": "failed" if is_failed else "done",
                              "error": "Something went wrong." if is_failed else None, "timings": {"search": 0.01},
                              "job_id": None, "attempts": 1, "delivered_at": created, "created_at": created,
                              "started_at": created, "finished_at": created})
                if not is_failed:
                    for rank, tid in enumerate(rng.sample(out.track_ids, 3), start=1):
                        picks.append({"turn_id": turn_id, "rank": rank, "track_id": tid, "score": 0.5 - rank / 10,
                                      "explanation": "It fits.", "explanation_fallback": False})
                turn_id += 1
            out.conversation_ids.append(conv_id)
            conv_id += 1
        with session_scope(url) as s:
            s.execute(insert(Conversation), convs)
            s.execute(insert(Turn), turns)
            s.execute(insert(Pick), picks)
            if flags:
                s.execute(insert(Flag), flags)
    if url.startswith("postgresql"):
        from sqlalchemy import text

        with session_scope(url) as s:  # explicit ids were inserted: move the sequences past them
            for table in ("conversations", "turns"):
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))"))
            s.execute(text("ANALYZE"))
    return out
