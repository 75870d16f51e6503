"""The audit log: who did what, when, to which records. Append-only (the database refuses
UPDATE and DELETE on it; see migration 0004)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.models import AuditLog

# Actors that are not moderators.
RETENTION = "retention"


def record(s: Session, actor: str, action: str, target: str, **details) -> AuditLog:
    """Add one entry to ``s`` (committed with the change it describes, or not at all)."""
    entry = AuditLog(actor=actor[:100], action=action[:50], target=target, details=details)
    s.add(entry)
    return entry


@dataclass
class AuditPage:
    entries: list[AuditLog]
    total: int
    page: int
    pages: int


def entries(s: Session, *, page: int = 1, page_size: int = 100, actor: str | None = None,
            action: str | None = None, target: str | None = None) -> AuditPage:
    """Newest first, optionally only one actor's, one action's or one target's entries."""
    q = select(AuditLog)
    if actor:
        q = q.where(AuditLog.actor == actor)
    if action:
        q = q.where(AuditLog.action == action)
    if target:
        q = q.where(AuditLog.target == target)
    total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    rows = s.scalars(q.order_by(AuditLog.at.desc(), AuditLog.id.desc())
                     .offset((page - 1) * page_size).limit(page_size)).all()
    return AuditPage(list(rows), total, page, pages)
