"""Queue a turn's job on Celery (registered as the ``celery`` entry point of
``musechat.dispatchers``, which the conversation service loads when a broker is set)."""

from __future__ import annotations

from celery import Celery
from kombu.exceptions import OperationalError as BrokerError

from core.config import Settings
from core.conversation.dispatch import DispatchError


class CeleryDispatcher:
    """Sends ``musechat.run_turn`` to the ``gpu`` queue with the turn's job id as task id."""

    def __init__(self, settings: Settings, *, app: Celery | None = None):
        if app is None:
            from workers.celery_app import app_for

            app = app_for(settings)
        self.app = app

    def submit(self, turn_id: int, job_id: str) -> None:
        try:
            self.app.send_task("musechat.run_turn", args=[turn_id], task_id=job_id, queue="gpu",
                               retry=True, retry_policy={"max_retries": 3, "interval_start": 0.2,
                                                         "interval_step": 0.5, "interval_max": 2.0})
        except (BrokerError, ConnectionError, OSError) as exc:
            raise DispatchError(f"broker unreachable: {exc}") from exc
