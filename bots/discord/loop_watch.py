"""How long the event loop was blocked: a ticker that notices when it wakes up late.

Everything slow (database, queue, hashing an upload) belongs in a thread; this watch is
how a test, the benchmark or a log line finds out when something slipped onto the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger(__name__)


class LoopWatch:
    """Sleeps ``interval_s`` again and again; any extra delay is time the loop was blocked.

    ``max_block_s`` is the worst delay seen since :meth:`reset` (what members feel: code on
    the loop, but also another thread holding the GIL or a busy machine not scheduling
    the process); ``max_busy_s`` is the most CPU time the loop's own thread spent within
    one tick (code on the loop alone). Delays over ``warn_s`` are logged.
    """

    def __init__(self, interval_s: float = 0.02, warn_s: float = 0.1):
        self.interval_s = interval_s
        self.warn_s = warn_s
        self.max_block_s = 0.0
        self.max_busy_s = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="musechat-loop-watch")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def reset(self) -> None:
        self.max_block_s = 0.0
        self.max_busy_s = 0.0

    async def _run(self) -> None:
        while True:
            t0, c0 = time.perf_counter(), time.thread_time()
            await asyncio.sleep(self.interval_s)
            late = time.perf_counter() - t0 - self.interval_s
            busy = time.thread_time() - c0
            self.max_block_s = max(self.max_block_s, late)
            self.max_busy_s = max(self.max_busy_s, busy)
            if late > self.warn_s:
                log.warning("event loop blocked for %.0f ms (%.0f ms of it running on the loop)",
                            late * 1000, min(busy, late) * 1000)
