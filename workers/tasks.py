"""Thin Celery tasks: each calls the conversation service and nothing else.

The service — and through it the Engine with its models — is created on the first job a
worker process runs and kept for the life of the process (never at import, never in
``worker_process_init``, and so never in a prefork parent that would pass CUDA state to
its children).
"""

from __future__ import annotations

import logging
import sys
import threading

from celery import Celery, shared_task, signals
from sqlalchemy.exc import DBAPIError

from core.config import get_settings
from core.conversation.dispatch import TurnNotReady
from core.conversation.service import ConversationService, is_database_outage
from core.db.session import dispose_all
from core.moderation.retention import run_retention
from workers.dispatch import CeleryDispatcher

log = logging.getLogger(__name__)

# How often a job waiting for an earlier turn of its conversation looks again (seconds).
WAIT_POLL_S = 1.0
# Database outages are retried with backoff up to this many times (about 10 minutes).
DB_RETRIES = 25

_service: ConversationService | None = None
_service_lock = threading.Lock()


def get_service(app: Celery) -> ConversationService:
    """This process's conversation service (created on first use, models load on first job)."""
    global _service
    if _service is None:
        with _service_lock:
            if _service is None:
                settings = get_settings()
                _service = ConversationService(settings, dispatcher=CeleryDispatcher(settings, app=app))
    return _service


def reset_service() -> None:
    """Forget this process's service and engine (tests switch settings between runs)."""
    global _service
    with _service_lock:
        _service = None


@shared_task(name="musechat.run_turn", bind=True, acks_late=True, reject_on_worker_lost=True,
             ignore_result=True, max_retries=None)
def run_turn(self, turn_id: int, db_retries: int = 0) -> str | None:
    """Answer turn ``turn_id``; results go to SQL. Returns the turn's final status.

    ``db_retries`` counts retries caused by database outages (waiting for an earlier turn
    does not use them up)."""
    service = get_service(self.app)
    try:
        return service.run_turn(turn_id, job_id=self.request.id)
    except TurnNotReady as exc:
        # Per-conversation order: come back once the earlier turn is answered.
        raise self.retry(exc=exc, countdown=WAIT_POLL_S, max_retries=None) from None
    except DBAPIError as exc:
        if not is_database_outage(exc) or db_retries >= DB_RETRIES:
            raise
        log.warning("turn %s: database unreachable, retrying: %s", turn_id, exc.orig)
        dispose_all()  # drop dead pooled connections
        raise self.retry(exc=exc, kwargs={"db_retries": db_retries + 1}, countdown=min(2 ** db_retries, 30),
                         max_retries=None) from None


@shared_task(name="musechat.requeue_stalled", bind=True, ignore_result=True)
def requeue_stalled(self) -> list[int]:
    """Send again the jobs of turns left queued (e.g. their message died with the broker)."""
    return get_service(self.app).requeue_stalled()


@shared_task(name="musechat.retention", ignore_result=True)
def retention() -> dict:
    """Delete conversations and media older than the retention settings (Celery beat sends
    this every MUSECHAT_RETENTION_INTERVAL_MINUTES); returns the counts."""
    return run_retention(get_settings()).as_dict()


@signals.worker_process_init.connect
def _after_fork(**_kwargs) -> None:
    # A forked child must not share the parent's database connections. Nothing heavy here:
    # this handler has to return within seconds.
    dispose_all()


@signals.worker_init.connect
def _no_cuda_in_parent(sender=None, **_kwargs) -> None:
    torch = sys.modules.get("torch")
    pool = str(getattr(sender, "pool_cls", "")).lower()
    if torch is not None and ("prefork" in pool or "asynpool" in pool) and torch.cuda.is_initialized():
        raise RuntimeError("CUDA was initialised before the prefork pool forked; run GPU workers with --pool=solo")


@signals.worker_ready.connect
def _requeue_on_start(sender=None, **_kwargs) -> None:
    try:
        sent = get_service(sender.app).requeue_stalled()
    except Exception:  # a start-up courtesy: never stop the worker over it
        log.exception("could not look for stalled turns")
        return
    if sent:
        log.info("requeued stalled turns %s", sent)
