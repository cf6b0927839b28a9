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

from batchcreate.clock import ring


class _Waiter:
    __slots__ = ("future", "granted", "open", "want")

    def __init__(self, want: int, future: asyncio.Future[None]) -> None:
        self.want = want
        self.granted = 0
        self.future = future
        #: Still takes slots: neither given all it wants, nor resumed, nor gone.
        self.open = True


class OrderedSlots:
    """A counting semaphore whose waiters are served lowest ``rank`` first (FIFO within a
    rank), each taking up to the number of slots it wants.

    A waiter keeps taking freed slots, up to what it wants, until it resumes: when many
    slots free at once (one list sees many jobs end), they all go to the earliest project
    waiting, not one to each of many projects, whose loops could not come back for the
    next one before the others took it.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self._free = slots
        self._waiters: list[tuple[int, int, _Waiter]] = []
        self._order = itertools.count()
        #: Open waiters.
        self._waiting = 0

    @property
    def free(self) -> int:
        return self._free

    def short(self) -> bool:
        """Whether someone waits for a slot."""
        return self._waiting > 0

    async def acquire(self, rank: int = 0, want: int = 1) -> int:
        """Wait for a slot; return how many were taken, at least one and at most ``want``
        (every one to be given back with ``release``)."""
        if want < 1:
            raise ValueError(f"want at least 1 slot, got {want}")
        if self._free > 0 and not self._waiters:
            taken = min(self._free, want)
            self._free -= taken
            return taken
        waiter = _Waiter(want, asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiters, (rank, next(self._order), waiter))
        self._waiting += 1
        try:
            await waiter.future
        except asyncio.CancelledError:
            self._close(waiter)
            if waiter.granted:
                self.release(waiter.granted)  # granted, then cancelled before it could run
            raise
        self._close(waiter)
        return waiter.granted

    def _close(self, waiter: _Waiter) -> None:
        if waiter.open:
            waiter.open = False
            self._waiting -= 1

    def release(self, slots: int = 1) -> None:
        """Give back ``slots`` slots."""
        self._free += slots
        while self._free > 0 and self._waiters:
            waiter = self._waiters[0][2]
            if not waiter.open:
                heapq.heappop(self._waiters)
                continue
            taken = min(self._free, waiter.want - waiter.granted)
            waiter.granted += taken
            self._free -= taken
            ring(waiter.future)
            if waiter.granted == waiter.want:
                heapq.heappop(self._waiters)
                self._close(waiter)
