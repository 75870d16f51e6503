"""The Celery app: Redis broker, JSON only, late acks, one prefetched job per process.

``app`` is configured from the settings when first used (``celery -A workers.celery_app``
works); :func:`create_app` builds one for given settings (the ``musechat worker`` command,
tests). Turn jobs go to the ``gpu`` queue (they need the models), light housekeeping to
``cpu``; a CPU-only deployment runs one worker on both.

A job whose worker vanished (SIGKILL, lost machine) is delivered again: a prefork child's
death is seen at once (``task_reject_on_worker_lost``); a whole worker's death is seen by
the broker after the visibility timeout, which therefore exceeds the job time limit.
"""

from __future__ import annotations

import threading

from celery import Celery
from kombu import Queue

from core.config import Settings, get_settings

QUEUES = ("gpu", "cpu")
# Added to the job time limit: how long a vanished worker's job waits before it runs again.
REDELIVERY_MARGIN_S = 30.0


def celery_config(settings: Settings, *, redeliver_after_s: float | None = None) -> dict:
    """Celery settings derived from MuseChat's settings."""
    redeliver = redeliver_after_s or settings.job_timeout_s + REDELIVERY_MARGIN_S
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend_url or settings.broker_url,
        # JSON only: a pickled message from the network would run code in the worker.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_queues": [Queue(name) for name in QUEUES],
        "task_default_queue": "cpu",
        "task_routes": {"musechat.run_turn": {"queue": "gpu"}},
        # The job limits itself (works in the solo pool too); this hard limit is the
        # prefork pool's backstop for a job stuck in native code.
        "task_time_limit": settings.job_timeout_s + 60,
        "result_expires": 24 * 3600,
        "broker_connection_retry_on_startup": True,
        # Results live in SQL: a job that outlives a broker blip still writes them there.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_transport_options": {
            "visibility_timeout": redeliver,
            # Look for vanished workers' jobs often enough to honour a short visibility timeout.
            "unacked_restore_interval": max(1, min(10, int(redeliver // 4))),
            "unacked_restore_throttle": 1,
        },
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        # `celery -A workers.celery_app beat` sends these; a cpu worker runs them.
        "beat_schedule": {
            "retention": {"task": "musechat.retention", "schedule": settings.retention_interval_minutes * 60,
                          "options": {"queue": "cpu"}},
            # Turns still queued after a job's time limit lost their message (e.g. with the broker).
            "requeue-stalled": {"task": "musechat.requeue_stalled", "schedule": settings.job_timeout_s,
                                "options": {"queue": "cpu"}},
        },
    }


def create_app(settings: Settings | None = None, *, redeliver_after_s: float | None = None) -> Celery:
    """A Celery app for ``settings`` (default: the process settings) with the tasks registered."""
    app = Celery("musechat", include=["workers.tasks"])
    app.conf.update(celery_config(settings or get_settings(), redeliver_after_s=redeliver_after_s))
    return app


_apps: dict[tuple, Celery] = {}
_apps_lock = threading.Lock()


def app_for(settings: Settings) -> Celery:
    """One shared app per broker in a process (front ends only send jobs through it)."""
    key = (settings.broker_url, settings.result_backend_url, settings.job_timeout_s)
    with _apps_lock:
        if key not in _apps:
            _apps[key] = create_app(settings)
        return _apps[key]


# Lazily configured from the environment, for `celery -A workers.celery_app ...`.
app = Celery("musechat", include=["workers.tasks"])
app.add_defaults(lambda: celery_config(get_settings()))
