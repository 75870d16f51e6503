"""A time limit for one turn's job, enforced inside the job itself.

Celery's own time limits do not work in the ``solo`` pool (the GPU deployment), so the
job limits itself: on the main thread a ``SIGALRM`` interrupts long engine calls; on
other threads (the in-process background runner) the limit is checked between stages.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from core.errors import UserError


class TurnTimeout(UserError):
    user_message = "That took too long, so I stopped. Please try again, or send a shorter video."


class Deadline:
    """A point in time ``seconds`` from now; ``check()`` raises TurnTimeout once it passed."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise TurnTimeout(f"job exceeded {self.seconds:.0f} s")

    @contextmanager
    def enforce(self) -> Iterator[None]:
        """Interrupt the block with TurnTimeout when the deadline passes.

        Keeps an interval timer set by someone else (e.g. a test runner's timeout) working:
        whichever fires first is honoured, and the other is restored afterwards.
        """
        self.check()
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
            yield
            self.check()
            return

        started = time.monotonic()
        outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
        outer_handler = signal.getsignal(signal.SIGALRM)

        def on_alarm(signum, frame):
            if self.remaining() <= 0.01:
                raise TurnTimeout(f"job exceeded {self.seconds:.0f} s")
            if callable(outer_handler):  # the outer timer fired first: let its owner act
                outer_handler(signum, frame)

        signal.signal(signal.SIGALRM, on_alarm)
        ours = max(self.remaining(), 0.001)
        signal.setitimer(signal.ITIMER_REAL, min(ours, outer_delay) if outer_delay > 0 else ours)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, outer_handler)
            if outer_delay > 0:
                left = outer_delay - (time.monotonic() - started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), outer_interval)
