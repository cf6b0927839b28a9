"""Writing the report while the batch runs, so a crash or ``kill -9`` leaves a recent one.

A write happens soon after any cluster reaches its outcome, but at most once per
``interval``: a fleet of thousands finishing together costs one write every few seconds,
not one per cluster. Every write is atomic (``report.write_atomically``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from batchcreate.clock import Clock

log = structlog.get_logger("batchcreate.checkpoint")

DEFAULT_INTERVAL = 2.0


class Checkpointer:
    """Calls ``write`` after ``mark`` was called, at most once per ``interval`` seconds."""

    def __init__(
        self, write: Callable[[], None], clock: Clock, interval: float = DEFAULT_INTERVAL
    ) -> None:
        self._write = write
        self._clock = clock
        self._interval = interval
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0

    def mark(self) -> None:
        """Something changed that the report should show."""
        self._dirty.set()

    def write_now(self) -> None:
        """Write at once (the first and the last report of a run)."""
        self._dirty.clear()
        try:
            self._write()
        except OSError as exc:
            # A checkpoint that cannot be written must not stop the batch; the final write
            # reports the problem to the user.
            log.warning("report.checkpoint_failed", error=str(exc))
        self.writes += 1

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
            await self._clock.sleep(self._interval)
