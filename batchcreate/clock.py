"""Time as an injected dependency: the real clock, and a virtual one for tests and benchmarks.

Every wait in batchcreate (rate limits, poll intervals, deadlines, backoff) goes through a
``Clock``, so the same runner runs in real time against the cloud and in virtual time against
the in-memory simulator, where an hour of fleet creation takes milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """What batchcreate needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences mean anything."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch, for timestamps in reports."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (at least zero) of this clock's time."""

    def timer(self, seconds: float) -> asyncio.Future[None]:
        """A future done ``seconds`` from now; cancelling it drops the timer. For waiting
        on one thing or a timeout without a task for the sleep: await the timer, and let
        the thing waited for resolve it early."""


def ring(future: asyncio.Future[None]) -> None:
    """End a wait on ``future`` now, unless it has ended already."""
    if not future.done():
        future.set_result(None)


class SystemClock:
    """The real clock: the event loop's monotonic time and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def timer(self, seconds: float) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(max(0.0, seconds), ring, future)
        future.add_done_callback(lambda _: handle.cancel())
        return future

    def __repr__(self) -> str:
        return "SystemClock()"


class DeadlockError(RuntimeError):
    """Under a virtual clock, every task waits and no sleeper can be woken."""


class VirtualClock:
    """A clock that jumps to the next sleeper's deadline as soon as every task is idle.

    Only for code that does no real I/O (the in-memory simulator): the clock advances when
    the event loop has nothing ready to run, which real sockets would break.
    """

    def __init__(self, start: float = 0.0, epoch: float = 1_767_225_600.0) -> None:
        self._now = start
        self._epoch = epoch - start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._epoch + self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        await self.timer(seconds)

    def timer(self, seconds: float) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            future.set_result(None)
            return future
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        return future

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking every sleeper due on the way, in order."""
        target = self._now + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            self._wake_next()
            await _settle()
        self._now = max(self._now, target)

    def stall(self, seconds: float) -> None:
        """Time passes while the event loop is busy: nothing wakes until the loop is free,
        and then every sleeper due meanwhile wakes late (as after a long callback or a
        garbage collection)."""
        self._now += seconds

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` to completion, jumping time forward whenever all tasks idle."""
        task = asyncio.ensure_future(awaitable)
        while True:
            await _settle()
            if task.done():
                return task.result()
            if not self._sleepers:
                task.cancel()
                raise DeadlockError("every task is waiting and no sleeper remains")
            self._wake_next()

    def _wake_next(self) -> None:
        deadline, _, future = heapq.heappop(self._sleepers)
        self._now = max(self._now, deadline)
        ring(future)
        # Wake every sleeper due at the same instant together, as a real loop would.
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, same = heapq.heappop(self._sleepers)
            ring(same)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:.3f})"


async def _settle() -> None:
    """Yield until no other task is ready to run (the loop is idle but for timers)."""
    loop = asyncio.get_running_loop()
    # asyncio keeps runnable callbacks in the private deque ``_ready``; there is no public
    # way to ask whether the loop is idle, so the one read of it is confined to this helper.
    ready = getattr(loop, "_ready", None)
    for _ in range(1_000_000):
        await asyncio.sleep(0)
        if not ready:
            return
    raise DeadlockError("tasks never became idle")
