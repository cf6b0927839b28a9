"""Credentials, the slot rate limiter in virtual time, and the virtual clock itself."""

from __future__ import annotations

import asyncio

import pytest

from batchcreate.auth import NoAuth, TokenAuth
from batchcreate.clock import DeadlockError, VirtualClock
from batchcreate.ratelimit import AdaptiveLimiter
from batchcreate.wire import Request, show_job_request

ENDPOINT = "https://cce.cn-north-4.myhuaweicloud.com"
SECRET = "MIIZ-very-secret-token-value"


def _request() -> Request:
    return show_job_request(ENDPOINT, "proj123", "job-1")


# ---- authentication ----------------------------------------------------------------------


async def test_token_auth_adds_the_token_header() -> None:
    """TokenAuth sets X-Auth-Token and keeps the request's other headers and parts."""
    request = _request()

    signed = await TokenAuth(SECRET).authenticate(request, "proj123")

    assert dict(signed.headers) == {"Content-Type": "application/json", "X-Auth-Token": SECRET}
    assert (signed.method, signed.url, signed.body, signed.kind) == (
        "GET",
        f"{ENDPOINT}/api/v3/projects/proj123/jobs/job-1",
        b"",
        "job",
    )
    assert "X-Auth-Token" not in request.headers


async def test_token_auth_strips_the_token() -> None:
    """A token pasted with surrounding white space is sent without it."""
    signed = await TokenAuth(f"  {SECRET}\n").authenticate(_request(), "proj123")

    assert signed.headers["X-Auth-Token"] == SECRET


def test_token_auth_repr_and_str_hide_the_token() -> None:
    """Neither repr nor str of TokenAuth reveals the token."""
    auth = TokenAuth(SECRET)

    assert repr(auth) == "TokenAuth(token='***')"
    assert SECRET not in repr(auth)
    assert SECRET not in str(auth)
    assert f"{auth!r}" == "TokenAuth(token='***')"
    assert auth.describe() == "token"


@pytest.mark.parametrize("token", ["", "   ", "\t\n"])
def test_token_auth_rejects_an_empty_token(token: str) -> None:
    """An empty or white-space-only token is refused at construction."""
    with pytest.raises(ValueError, match="token is empty"):
        TokenAuth(token)


async def test_no_auth_leaves_the_request_unchanged() -> None:
    """NoAuth returns the very same request, with no credentials added."""
    request = _request()

    result = await NoAuth().authenticate(request, "proj123")

    assert result is request
    assert dict(result.headers) == {"Content-Type": "application/json"}
    assert NoAuth().describe() == "none"
    assert repr(NoAuth()) == "NoAuth()"


# ---- AdaptiveLimiter in virtual time ---------------------------------------------------------


async def _start_times(limiter: AdaptiveLimiter, clock: VirtualClock, count: int) -> list[float]:
    """Run ``count`` concurrent acquires and return when each one was admitted."""
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        starts.append(clock.monotonic())

    async def all_of_them() -> None:
        await asyncio.gather(*(one() for _ in range(count)))

    await clock.run(all_of_them())
    return starts


@pytest.mark.parametrize(("rate", "count"), [(4.0, 10), (2.0, 5), (0.5, 3), (1.0, 1)])
async def test_acquires_finish_at_n_minus_one_over_rate(rate: float, count: int) -> None:
    """N acquires at rate r are admitted 1/r apart, the last at exactly (N-1)/r."""
    clock = VirtualClock()
    limiter = AdaptiveLimiter(rate, clock)

    starts = await _start_times(limiter, clock, count)

    assert starts == [k / rate for k in range(count)]
    assert clock.monotonic() == (count - 1) / rate
    assert limiter.admitted == count
    assert limiter.rate == rate


async def test_never_more_than_rate_starts_in_any_one_second_window() -> None:
    """In every half-open one-second window at most ``rate`` calls start."""
    clock = VirtualClock()
    rate = 4
    starts = await _start_times(AdaptiveLimiter(float(rate), clock), clock, 25)

    busiest = max(sum(1 for s in starts if t <= s < t + 1.0) for t in starts)

    assert busiest == rate
    assert len(starts) == 25


async def test_acquires_from_sequential_callers_are_spaced_too() -> None:
    """One caller acquiring in a loop is paced exactly like concurrent callers."""
    clock = VirtualClock(start=100.0)
    limiter = AdaptiveLimiter(2.0, clock)
    starts: list[float] = []

    async def loop() -> None:
        for _ in range(4):
            await limiter.acquire()
            starts.append(clock.monotonic())

    await clock.run(loop())

    assert starts == [100.0, 100.5, 101.0, 101.5]


async def test_fresh_limiter_lets_a_burst_start_at_once() -> None:
    """With burst=3 a fresh limiter admits three calls at once, then one per 1/rate."""
    clock = VirtualClock()
    limiter = AdaptiveLimiter(1.0, clock, burst=3)

    starts = await _start_times(limiter, clock, 5)

    assert starts == [0.0, 0.0, 0.0, 1.0, 2.0]


async def test_burst_is_available_again_after_an_idle_period() -> None:
    """After being idle long enough the limiter again admits ``burst`` calls at once."""
    clock = VirtualClock()
    limiter = AdaptiveLimiter(1.0, clock, burst=3)
    await clock.run(limiter.acquire())
    await clock.advance(10.0)

    starts = await _start_times(limiter, clock, 5)

    assert starts == [10.0, 10.0, 10.0, 11.0, 12.0]


async def test_without_burst_an_idle_limiter_admits_one_at_once() -> None:
    """burst=1 (the default) never lets two calls start at the same instant."""
    clock = VirtualClock()
    limiter = AdaptiveLimiter(1.0, clock)
    await clock.run(limiter.acquire())
    await clock.advance(10.0)

    starts = await _start_times(limiter, clock, 3)

    assert starts == [10.0, 11.0, 12.0]


async def test_cancelled_last_waiter_gives_its_slot_back() -> None:
    """When the last waiter is cancelled, the next caller gets its slot instead of a later one."""
    clock = VirtualClock()
    limiter = AdaptiveLimiter(1.0, clock)
    await limiter.acquire()  # slot 0, admitted at once
    second = asyncio.ensure_future(limiter.acquire())  # slot 1
    third = asyncio.ensure_future(limiter.acquire())  # slot 2
    await clock.advance(0.0)  # let both start waiting
    third.cancel()
    with pytest.raises(asyncio.CancelledError):
        await third

    async def fourth() -> float:
        await limiter.acquire()
        return clock.monotonic()

    admitted_at = await clock.run(fourth())

    assert second.done()
    assert admitted_at == 2.0
    assert limiter.admitted == 3


async def test_cancelled_middle_waiter_hands_its_slot_to_the_next() -> None:
    """A cancelled waiter never uses a slot: the next waiter takes it, and slots stay distinct."""
    clock = VirtualClock()
    limiter = AdaptiveLimiter(1.0, clock)
    await limiter.acquire()  # slot 0
    starts: dict[str, float] = {}

    async def named(name: str) -> None:
        await limiter.acquire()
        starts[name] = clock.monotonic()

    second = asyncio.ensure_future(named("second"))  # slot 1
    third = asyncio.ensure_future(named("third"))  # slot 2
    await clock.advance(0.0)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    await clock.run(asyncio.gather(third, named("fourth")))

    assert starts == {"third": 1.0, "fourth": 2.0}
    assert limiter.admitted == 3


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_limiter_rejects_impossible_settings(rate: float, burst: int) -> None:
    """A rate that is not positive or a burst below one is refused."""
    with pytest.raises(ValueError, match="must be"):
        AdaptiveLimiter(rate, VirtualClock(), burst=burst)


# ---- VirtualClock ------------------------------------------------------------------------


async def test_sleepers_wake_in_deadline_order_at_their_deadlines() -> None:
    """Sleepers started in any order wake by deadline, each at exactly its own time."""
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    await clock.run(
        asyncio.gather(sleeper("c", 3.0), sleeper("a", 1.0), sleeper("b", 2.0), sleeper("d", 2.0))
    )

    assert woke == [("a", 1.0), ("b", 2.0), ("d", 2.0), ("c", 3.0)]
    assert clock.monotonic() == 3.0


async def test_advance_wakes_only_the_sleepers_due() -> None:
    """advance moves time by exactly its argument and wakes the sleepers due on the way."""
    clock = VirtualClock(start=10.0)
    woke: list[tuple[float, float]] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((seconds, clock.monotonic()))

    tasks = [asyncio.ensure_future(sleeper(s)) for s in (7.0, 1.0, 3.0)]

    await clock.advance(5.0)

    assert woke == [(1.0, 11.0), (3.0, 13.0)]
    assert clock.monotonic() == 15.0
    assert not tasks[0].done()

    await clock.advance(2.0)

    assert woke == [(1.0, 11.0), (3.0, 13.0), (7.0, 17.0)]
    assert clock.monotonic() == 17.0
    assert all(t.done() for t in tasks)


async def test_advance_without_sleepers_just_moves_time() -> None:
    """With no sleepers advance still moves both monotonic and wall-clock time."""
    clock = VirtualClock(start=0.0, epoch=1_000.0)

    await clock.advance(2.5)

    assert clock.monotonic() == 2.5
    assert clock.time() == 1_002.5


async def test_sleep_zero_does_not_advance_time() -> None:
    """Sleeping zero or a negative time yields once and leaves the clock where it was."""
    clock = VirtualClock(start=4.0)

    await clock.run(clock.sleep(0.0))
    await clock.run(clock.sleep(-1.0))

    assert clock.monotonic() == 4.0


async def test_run_returns_the_result_after_virtual_time_passes() -> None:
    """run drives the awaitable to completion, jumping over an hour instantly."""
    clock = VirtualClock()

    async def slow() -> str:
        await clock.sleep(3600.0)
        return "done"

    assert await clock.run(slow()) == "done"
    assert clock.monotonic() == 3600.0


async def test_run_raises_deadlock_when_everything_waits_forever() -> None:
    """When the task waits on something no sleeper can ever set, run raises DeadlockError."""
    clock = VirtualClock()
    never = asyncio.Event()

    with pytest.raises(DeadlockError, match="no sleeper remains"):
        await clock.run(never.wait())

    assert clock.monotonic() == 0.0


async def test_run_raises_deadlock_after_the_last_sleeper_wakes() -> None:
    """Sleepers are woken first; a task still waiting when none is left is a deadlock."""
    clock = VirtualClock()
    never = asyncio.Event()

    async def sleeps_then_hangs() -> None:
        await clock.sleep(5.0)
        await never.wait()

    with pytest.raises(DeadlockError):
        await clock.run(sleeps_then_hangs())

    assert clock.monotonic() == 5.0
