"""Writing the report while the batch runs, so a crash or ``kill -9`` leaves a recent one.

A write happens soon after any cluster reaches its outcome, but at most once per
``interval``: a fleet of thousands finishing together costs one write every few seconds,
not one per cluster. A write costs time in proportion to the fleet, so the gap also grows
to keep writing under ``COST_SHARE`` of the run's time: 10,000 clusters are not
rewritten every 2 s. Every write is atomic (``report.write_atomically``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from batchcreate.clock import Clock

log = structlog.get_logger("batchcreate.checkpoint")

DEFAULT_INTERVAL = 2.0
#: The most of a run's time that checkpoint writes may take: 0.5%, so that a large fleet
#: waiting behind a slow rate limit costs well under 1% of a core (a 10,000-cluster report
#: takes about 0.1 s to write: one every 20 s).
COST_SHARE = 0.005


class Checkpointer:
    """Calls ``write`` after ``mark`` was called, at most once per ``interval`` seconds."""

    def __init__(
        self,
        write: Callable[[], None],
        clock: Clock,
        interval: float = DEFAULT_INTERVAL,
        *,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._write = write
        self._timer = timer
        self._clock = clock
        self._interval = interval
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0
        #: How long the latest write took (real seconds: it is CPU and disk, not waiting).
        self.last_write_seconds = 0.0

    def mark(self) -> None:
        """Something changed that the report should show."""
        self._dirty.set()

    def write_now(self) -> None:
        """Write at once (the first and the last report of a run)."""
        self._dirty.clear()
        started = self._timer()
        try:
            self._write()
        except OSError as exc:
            # A checkpoint that cannot be written must not stop the batch; the final write
            # reports the problem to the user.
            log.warning("report.checkpoint_failed", error=str(exc))
        self.writes += 1
        self.last_write_seconds = self._timer() - started

    def gap(self) -> float:
        """The wait after a write: ``interval``, or longer when writes are costly."""
        return max(self._interval, self.last_write_seconds / COST_SHARE)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await self._dirty.wait()
            self.write_now()
            await self._clock.sleep(self.gap())
