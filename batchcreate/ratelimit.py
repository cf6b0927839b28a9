"""Rate limits per endpoint: priorities, deadlines, and a rate that gives way to throttling.

Why not a library: asyncio-throttle wakes every waiting task every 10 ms and reads
``time.monotonic()`` directly, and aiolimiter reads the event loop's clock; neither can be
driven by the virtual clock that tests and benchmarks use, and neither has priorities or
adapts to a server's 429s. This limiter is a GCRA (virtual scheduling) bucket with a heap of
waiters and one timer: a waiting call costs no CPU whatever the queue length.

How it behaves:

- at most ``rate`` calls start per second (``burst`` may start back to back after a pause);
  exactly: never more than ``n + burst - 1`` calls in any window of ``n`` call intervals, with
  ``n`` the rate rounded (one second's worth: 300 calls in any second at 300/s);
- a call counts from when it goes on the wire (``admit``, then ``on_wire``), not from its
  admission: a busy event loop can run an admitted call tens of ms late, and the service
  counts arrivals. Until then it holds its place in the window, so calls held up and calls
  admitted after them cannot reach the service within one second of each other beyond the
  limit (``acquire`` is both at once, for a call that goes out as soon as it resumes);
- with ``delivery_slack`` (real networks), the window is that much longer than a second:
  a call reaches the service a little after it went on the wire, by more or less, so 300
  calls are spread over 1.005 s rather than 1 s (99.5% of the rate): calls that reach it
  up to 5 ms apart from their neighbours still fit in its second;
- with ``coalesce``, a wake-up that admits a call also admits the calls whose slots fall
  within the next ``coalesce`` seconds (the sliding window still holds exactly): at 300/s,
  three calls every 10 ms instead of one every 3.3 ms, which saves the event loop a
  wake-up, and its CPU, per call;
- slots that a busy event loop let pass (a timer that fires late, a garbage collection, a
  large list to settle) are made up while that window allows, so stalls do not cost
  throughput; they are made up at twice the rate, not all at once, so that each call is
  sent soon after it is admitted and the service sees them as spaced as they were admitted;
  a limiter with nothing to do saves no slots for later;
- waiters are served by priority (lists, then creates, then polls), first come first served
  within one priority, because a create starts a job's clock while a poll only observes it;
  but a poll that has waited ``poll_patience`` seconds goes ahead of creates that came after
  it, so polls stretch when the budget is tight and are never starved;
- a waiter gives up at its deadline (``DeadlineExceeded``) without using a slot;
- ``throttled()`` (a 429) pauses the whole endpoint: for ``Retry-After`` when the server
  said, else for two call slots, doubling while 429s follow each other with no success in
  between. The rate is cut (multiplicatively) only when 429s are dense among the recent
  calls, the sign of a server limit below the configured rate; ``succeeded()`` grows it back
  by a small factor per successful call, up to the configured rate. So sporadic 429s cost a
  pause of a few slots, and a real server limit is found and held.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
from enum import IntEnum
from typing import Protocol

from batchcreate.clock import Clock, ring


class DeadlineExceeded(Exception):
    """A wait reached its deadline before it was admitted."""


class Priority(IntEnum):
    """Who goes first when calls queue for the same endpoint (lower first)."""

    LIST = 0
    CREATE = 1
    POLL = 2


#: Rate after a 429 = rate * this (multiplicative decrease).
DECREASE_FACTOR = 0.7
#: Rate after a successful call = rate * (1 + this), up to the configured rate.
RECOVERY_STEP = 0.02
#: Several 429s within this many seconds are one congestion signal, cutting the rate once.
DECREASE_COOLDOWN = 1.0
#: Own pause after a 429 without Retry-After, in call slots, doubling per consecutive 429.
OWN_PAUSE_SLOTS = 2.0
OWN_PAUSE_MAX = 60.0
#: The rate is cut when at least this share of the last ``WINDOW`` answers were 429s.
DENSE_THROTTLING = 0.25
WINDOW = 20
#: Slots missed while the event loop was busy are made up this many times faster than the
#: rate.
CATCH_UP_SPEED = 2.0
#: The rate never falls below the configured rate divided by this.
MIN_RATE_DIVISOR = 100.0


class RateLimiter(Protocol):
    """What the client needs from an endpoint's limiter."""

    @property
    def rate(self) -> float:
        """Calls per second admitted now."""

    async def admit(self, priority: int = Priority.POLL, deadline: float | None = None) -> None:
        """Wait until one more call may start; ``DeadlineExceeded`` at ``deadline``. The call
        holds a place in the window until ``on_wire``."""

    def on_wire(self) -> None:
        """An admitted call went on the wire now (or never will): once per ``admit``."""

    def throttled(self, retry_after: float | None, sent_at: float | None = None) -> None:
        """The server refused a call (admitted at ``sent_at``) for flow control."""

    def succeeded(self) -> None:
        """A call was answered without flow control."""


class AdaptiveLimiter:
    """One endpoint's admission: rate, burst, priorities, deadlines, throttle adaptation."""

    def __init__(
        self,
        rate: float,
        clock: Clock,
        *,
        burst: int = 1,
        adaptive: bool = True,
        poll_patience: float = 5.0,
        coalesce: float = 0.0,
        delivery_slack: float = 0.0,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self._configured = rate
        self._burst = burst
        self._coalesce = coalesce
        self._delivery_slack = delivery_slack
        # When the last calls (as many as one window holds) went on the wire, oldest first:
        # a call may start once there are fewer than a window's worth in the window. Not the
        # time a call was granted, because a busy event loop can run a granted call well
        # after the grant, and the service counts when calls arrive. Granted calls not on
        # the wire yet count as started (``_granted``).
        self._starts: collections.deque[float] = collections.deque()
        self._granted = 0
        self._set_rate(rate)
        self._clock = clock
        self._adaptive = adaptive
        # Theoretical arrival time of the next call (GCRA); a call may start at
        # ``_tat - burst_span``.
        self._tat = clock.monotonic()
        # While missed slots are made up: the earliest start of the next one.
        self._catch_up_next = float("-inf")
        self._paused_until = float("-inf")
        self._last_decrease = float("-inf")
        self._consecutive_throttles = 0
        #: When the latest own pause began (a 429 for a call sent after it doubles the next).
        self._pause_began = float("-inf")
        self._recent: collections.deque[bool] = collections.deque(maxlen=WINDOW)
        # Each waiter's place: (class, then arrival shifted by its class's patience, order).
        self._patience = {Priority.LIST: 0.0, Priority.CREATE: 0.0, Priority.POLL: poll_patience}
        self._waiters: list[tuple[int, float, int, asyncio.Future[None]]] = []
        #: Waiters' deadlines, soonest first: the driver gives them up when due, so that a
        #: waiting call needs no timer of its own.
        self._deadlines: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None
        #: The driver's one wait, for the next slot or the first deadline, whichever comes
        #: first; ringing it makes the driver look again (``_wake_driver``).
        self._wake: asyncio.Future[None] | None = None
        #: When that wait ends by itself (inf while the driver does not wait, or waits for
        #: room with no deadline to give up).
        self._driver_wakes = float("inf")
        #: True while granted calls not on the wire yet fill the window: ``on_wire`` then
        #: makes room (and only then, so that a call going out costs no extra wake-up).
        self._waits_for_room = False
        self.admitted = 0
        self.throttle_events = 0

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def configured_rate(self) -> float:
        return self._configured

    @property
    def paused_until(self) -> float:
        return self._paused_until

    @property
    def waiting(self) -> int:
        return sum(1 for *_, f in self._waiters if not f.done())

    def _set_rate(self, rate: float) -> None:
        self._rate = rate
        self._interval = 1.0 / rate
        # The sliding window: ``calls`` starts in any ``window`` seconds, which is what the
        # schedule gives when no call is late (GCRA: n intervals hold n + burst - 1 starts).
        calls = max(1, round(rate))
        self._window = calls * self._interval + self._delivery_slack
        self._window_calls = calls + self._burst - 1
        if self._starts.maxlen != self._window_calls:
            self._starts = collections.deque(self._starts, maxlen=self._window_calls)

    def _start_time(self, early: float = 0.0) -> float:
        """The earliest moment the next call may start; ``early``: that much before its
        slot (coalescing), but never before the sliding window, a pause or the pace of
        making up missed slots allow."""
        start = max(
            self._tat - (self._burst - 1) * self._interval - early,
            self._paused_until,
            self._catch_up_next,
        )
        room = self._window_calls - self._granted  # calls the window may still hold
        if room <= 0:
            return float("inf")  # granted calls fill the window: they must go out first
        if len(self._starts) >= room:
            start = max(start, self._starts[-room] + self._window)
        return start

    def _grant(self, now: float, *, catch_up: bool) -> None:
        """Admit a call at ``now``. A waiter served late (the event loop was busy past its
        slot) keeps the schedule, so the slots missed (at most a window's worth) are made up
        at ``CATCH_UP_SPEED`` times the rate, as far as the sliding window allows; otherwise
        (``catch_up`` false: nobody was waiting) the schedule restarts from now."""
        floor = now - self._window if catch_up else now
        late = catch_up and self._tat < now
        self._tat = max(self._tat, floor, self._paused_until) + self._interval
        self._catch_up_next = now + self._interval / CATCH_UP_SPEED if late else float("-inf")
        self.admitted += 1

    async def acquire(self, priority: int = Priority.POLL, deadline: float | None = None) -> None:
        """``admit``, the call going on the wire as its caller resumes."""
        await self.admit(priority, deadline)
        self.on_wire()

    async def admit(self, priority: int = Priority.POLL, deadline: float | None = None) -> None:
        now = self._clock.monotonic()
        if not self._waiters and now >= self._start_time():
            self._grant(now, catch_up=False)
            self._granted += 1
            return
        if deadline is not None and deadline <= now:
            raise DeadlineExceeded
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, self._place(priority, now, future))
        if deadline is not None:
            self._add_deadline(deadline, future)
            if deadline < self._driver_wakes:
                # The driver would wait past this deadline (rare: deadlines are mostly far
                # beyond the next slot): it looks again, and waits until the deadline.
                self._wake_driver()
        if self._driver is None or self._driver.done():
            self._driver = asyncio.ensure_future(self._drive())
        try:
            await future  # DeadlineExceeded when the driver gives the wait up
        except BaseException:  # cancelled (or closed) while granted: it will not go out
            if future.done() and not future.cancelled() and future.exception() is None:
                self.on_wire()
            raise

    def on_wire(self) -> None:
        if self._granted <= 0:
            raise RuntimeError("on_wire() for a call that was not admitted")
        self._granted -= 1
        self._starts.append(self._clock.monotonic())
        if self._waits_for_room:
            self._wake_driver()

    def _wake_driver(self) -> None:
        """End the driver's wait (if it waits), so that it looks again: a call went out of a
        full window, the window grew, or a waiter's deadline comes before the wait's end."""
        if self._wake is not None:
            ring(self._wake)

    def _add_deadline(self, deadline: float, future: asyncio.Future[None]) -> None:
        self._compact()
        heapq.heappush(self._deadlines, (deadline, next(self._order), future))

    def _compact(self) -> None:
        """Admitted waits leave their deadlines behind: drop them now and then, so that
        the heap stays the size of the queue (amortised O(1) per call)."""
        deadlines = self._deadlines
        if len(deadlines) > 2 * len(self._waiters) + 64:
            deadlines[:] = [entry for entry in deadlines if not entry[2].done()]
            heapq.heapify(deadlines)

    def _expire(self, now: float) -> None:
        """Give up every wait whose deadline has come (it uses no slot)."""
        while self._deadlines and (self._deadlines[0][0] <= now or self._deadlines[0][2].done()):
            _, _, future = heapq.heappop(self._deadlines)
            if not future.done():
                future.set_exception(DeadlineExceeded())

    def _place(
        self, priority: int, now: float, future: asyncio.Future[None]
    ) -> tuple[int, float, int, asyncio.Future[None]]:
        """Lists always first; creates and polls by arrival, a poll's counted from when its
        patience runs out, so a poll that waited long enough outranks later creates."""
        if priority == Priority.LIST:
            return (0, now, next(self._order), future)
        return (1, now + self._patience.get(Priority(priority), 0.0), next(self._order), future)

    async def _drive(self) -> None:
        """Hand out slots to waiters, best priority first, one timer at a time."""
        early = 0.0  # ``coalesce`` right after a grant, in the same wake-up
        while self._waiters:
            now = self._clock.monotonic()
            self._expire(now)
            if self._waiters[0][-1].done():
                heapq.heappop(self._waiters)
                continue
            start = self._start_time(early)
            early = 0.0
            if now < start:
                # Until the next slot, or the first deadline. No slot (``inf``): granted
                # calls not on the wire yet fill the window (an IAM token being fetched for
                # them, say), and the wait lasts until one goes out or a deadline comes.
                await self._wait(min(start, self._deadlines[0][0]) if self._deadlines else start)
                continue  # a pause, a deadline or a new best waiter may have come meanwhile
            *_, future = heapq.heappop(self._waiters)
            self._grant(now, catch_up=True)
            self._granted += 1
            future.set_result(None)
            self._compact()
            early = self._coalesce
            if self._start_time() <= self._clock.monotonic():
                # Another grant is due at once (a burst, slots being made up): the admitted
                # call starts first. Otherwise the driver's sleep until the next slot
                # yields anyway, and an extra turn of the event loop per call is saved.
                await asyncio.sleep(0)

    async def _wait(self, until: float) -> None:
        """The driver's wait until ``until`` (``inf``: until woken), or until woken."""
        if until == float("inf"):
            self._wake = asyncio.get_running_loop().create_future()
        else:
            self._wake = self._clock.timer(until - self._clock.monotonic())
        self._driver_wakes = until
        self._waits_for_room = self._granted >= self._window_calls
        try:
            await self._wake
        finally:
            self._wake.cancel()
            self._wake = None
            self._driver_wakes = float("inf")
            self._waits_for_room = False

    def throttled(self, retry_after: float | None, sent_at: float | None = None) -> None:
        """Pause the endpoint and, once per congestion event, cut its rate.

        ``sent_at``: when the refused call was admitted. A call that went out before the
        latest pause began says nothing of whether that pause was long enough (calls sent
        together are refused together), so it does not double the next one."""
        now = self._clock.monotonic()
        self.throttle_events += 1
        self._recent.append(True)
        if sent_at is None or sent_at >= self._pause_began:
            self._consecutive_throttles += 1
            self._pause_began = now
        if retry_after is None:
            slots = OWN_PAUSE_SLOTS * 2 ** (self._consecutive_throttles - 1)
            pause = min(OWN_PAUSE_MAX, slots * self._interval)
        else:
            pause = max(0.0, retry_after)
        self._paused_until = max(self._paused_until, now + pause)
        self._tat = max(self._tat, self._paused_until)
        dense = sum(self._recent) >= DENSE_THROTTLING * WINDOW
        if self._adaptive and dense and now - self._last_decrease >= DECREASE_COOLDOWN:
            self._last_decrease = now
            floor = self._configured / MIN_RATE_DIVISOR
            self._set_rate(max(floor, self._rate * DECREASE_FACTOR))

    def succeeded(self) -> None:
        """Grow the rate back toward the configured one."""
        self._consecutive_throttles = 0
        self._recent.append(False)
        if self._rate < self._configured:
            self._set_rate(min(self._configured, self._rate * (1.0 + RECOVERY_STEP)))
            if self._waits_for_room:
                self._wake_driver()  # a faster rate's window holds more calls

    def __repr__(self) -> str:
        return f"AdaptiveLimiter(rate={self._rate:g}/s of {self._configured:g}/s)"
