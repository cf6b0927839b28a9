"""In-flight slots handed out in the manifest's order of projects.

A batch holds at most ``maxInFlight`` clusters in flight. When slots are scarce, a free
slot goes to the earliest project of the manifest that waits for one, not round robin: the
clusters in flight then gather in a few projects at a time, and one list of a project
watches many of them (a fleet of 1,000 projects with a slot or two each would cost a list
per project per interval). ``asyncio.Semaphore`` serves first come, first served, hence
this small class.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class OrderedSlots:
    """A counting semaphore whose waiters are served lowest ``rank`` first (FIFO within a
    rank)."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self._free = slots
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        #: Waiters not yet served nor gone.
        self._waiting = 0

    @property
    def free(self) -> int:
        return self._free

    def short(self) -> bool:
        """Whether someone waits for a slot."""
        return self._waiting > 0

    async def acquire(self, rank: int = 0) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (rank, next(self._order), future))
        self._waiting += 1
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted, then cancelled before it could use the slot
            else:
                self._waiting -= 1  # gone before its turn
            raise

    def release(self) -> None:
        self._free += 1
        while self._free > 0 and self._waiters:
            *_, future = heapq.heappop(self._waiters)
            if future.done():
                continue
            self._free -= 1
            self._waiting -= 1
            future.set_result(None)
