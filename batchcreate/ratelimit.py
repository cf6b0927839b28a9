"""Rate limits: one small interface, and a timer-based limiter that runs on an injected clock.

Why not a library: asyncio-throttle wakes every waiting task every 10 ms and reads
``time.monotonic()`` directly, and aiolimiter reads the event loop's clock; neither can be
driven by the virtual clock that tests and benchmarks use. The limiter below is a GCRA
(virtual scheduling) bucket: each caller is handed the next free slot and sleeps exactly
once until it, so waiting costs no CPU whatever the queue length.
"""

from __future__ import annotations

from typing import Protocol

from batchcreate.clock import Clock


class RateLimiter(Protocol):
    """Admits calls at a bounded rate."""

    @property
    def rate(self) -> float:
        """Calls per second admitted in the long run."""

    async def acquire(self) -> None:
        """Wait until one more call may start."""


class SlotLimiter:
    """At most ``rate`` calls per second, spaced evenly, with an optional initial burst.

    ``burst`` calls may start back to back after an idle period; beyond that, starts are
    ``1/rate`` apart. A caller cancelled while waiting gives its slot back when it was the
    last one handed out.
    """

    def __init__(self, rate: float, clock: Clock, *, burst: int = 1) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self._rate = rate
        self._interval = 1.0 / rate
        self._burst_span = (burst - 1) * self._interval
        self._clock = clock
        self._next_free = clock.monotonic() - self._burst_span
        self.admitted = 0

    @property
    def rate(self) -> float:
        return self._rate

    async def acquire(self) -> None:
        now = self._clock.monotonic()
        slot = max(self._next_free, now - self._burst_span)
        self._next_free = slot + self._interval
        wait = slot - now
        if wait > 0:
            try:
                await self._clock.sleep(wait)
            except BaseException:
                if self._next_free == slot + self._interval:
                    self._next_free = slot
                raise
        self.admitted += 1

    def __repr__(self) -> str:
        return f"SlotLimiter(rate={self._rate:g}/s)"
