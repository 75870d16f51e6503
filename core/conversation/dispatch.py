"""The one place that turns a turn into a job.

A :class:`Dispatcher` receives ``(turn_id, job_id)`` after the turn's row is committed.
With ``MUSECHAT_BROKER_URL`` set, the dispatcher comes from the ``musechat.dispatchers``
entry point group (``workers`` registers the Celery one there, so ``core`` never imports
Celery); without a broker, :class:`InProcessDispatcher` runs the same job function in
this process — synchronously (the CLI) or on one background thread (a front end that
must not block).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from core.errors import ConfigError, MuseChatError

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)


class DispatchError(MuseChatError):
    """The job could not be queued (broker down); the turn stays queued for a later sweep."""


class TurnNotReady(MuseChatError):
    """An earlier turn of the same conversation is not finished; try this one again later."""

    def __init__(self, turn_id: int, blocking_turn_id: int, blocking_queued: bool):
        super().__init__(f"turn {turn_id} waits for turn {blocking_turn_id}")
        self.turn_id = turn_id
        self.blocking_turn_id = blocking_turn_id
        self.blocking_queued = blocking_queued


class Dispatcher(Protocol):
    def submit(self, turn_id: int, job_id: str) -> None:
        """Queue the job for ``turn_id``; raise DispatchError when it cannot be queued."""


JobFunction = Callable[..., object]  # run_turn(turn_id, *, job_id=...)


class InProcessDispatcher:
    """Runs jobs in this process: at once (``background=False``) or on one worker thread.

    One thread keeps jobs in submission order, which is also each conversation's order.
    """

    def __init__(self, run: JobFunction, *, background: bool = False, poll_s: float = 0.2):
        self._run = run
        self._poll_s = poll_s
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="musechat-job") if background else None
        self.futures: list[Future] = []

    def submit(self, turn_id: int, job_id: str) -> None:
        if self._pool is None:
            self._execute(turn_id, job_id)
        else:
            self.futures.append(self._pool.submit(self._execute, turn_id, job_id))

    def _execute(self, turn_id: int, job_id: str | None, depth: int = 0) -> None:
        while True:
            try:
                self._run(turn_id, job_id=job_id)
                return
            except TurnNotReady as exc:
                if exc.blocking_queued and depth < 50:
                    # Nobody else will run it in this process (e.g. left queued by a crash).
                    self._execute(exc.blocking_turn_id, None, depth + 1)
                else:
                    time.sleep(self._poll_s)  # running in another process: wait for it

    def wait(self, timeout: float | None = None) -> None:
        """Block until every submitted background job finished (tests, shutdown)."""
        for fut in list(self.futures):
            fut.result(timeout)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def load_dispatcher(settings: Settings, run: JobFunction, *, background: bool = False) -> Dispatcher:
    """The dispatcher the settings ask for: the broker's when one is set, else in-process."""
    if not settings.broker_url:
        return InProcessDispatcher(run, background=background)
    found = {ep.name: ep for ep in entry_points(group="musechat.dispatchers")}
    if "celery" not in found:
        raise ConfigError("MUSECHAT_BROKER_URL is set but the Celery dispatcher is not installed "
                          "(install the project with `pip install -e .`)")
    factory = found["celery"].load()
    return factory(settings)
