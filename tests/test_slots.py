"""In-flight slots served in the manifest's order of projects."""

from __future__ import annotations

import asyncio

import pytest

from batchcreate.clock import VirtualClock
from batchcreate.slots import OrderedSlots


async def test_a_freed_slot_goes_to_the_earliest_project_waiting() -> None:
    clock = VirtualClock()
    slots = OrderedSlots(1)
    await slots.acquire(0)
    served: list[str] = []

    async def claim(name: str, rank: int, delay: float) -> None:
        await clock.sleep(delay)
        await slots.acquire(rank)
        served.append(name)
        await clock.sleep(1.0)
        slots.release()

    async def holder() -> None:
        await clock.sleep(5.0)
        slots.release()

    await clock.run(
        asyncio.gather(
            holder(),
            claim("late-project-first", 7, 1.0),
            claim("early-project", 2, 2.0),
            claim("early-project-again", 2, 3.0),
            claim("first-project", 0, 4.0),
        )
    )
    assert served == ["first-project", "early-project", "early-project-again", "late-project-first"]
    assert slots.free == 1


async def test_a_waiter_cancelled_after_its_grant_gives_the_slot_back() -> None:
    slots = OrderedSlots(1)
    await slots.acquire()
    waiter = asyncio.ensure_future(slots.acquire(3))
    await asyncio.sleep(0)
    slots.release()  # granted to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.free == 1


def test_no_slots_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        OrderedSlots(0)


async def test_short_tells_whether_anyone_waits() -> None:
    slots = OrderedSlots(1)
    await slots.acquire()
    assert not slots.short()
    waiter = asyncio.ensure_future(slots.acquire(1))
    await asyncio.sleep(0)
    assert slots.short()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not slots.short()
    other = asyncio.ensure_future(slots.acquire(2))
    await asyncio.sleep(0)
    slots.release()
    await other
    assert not slots.short()
    assert slots.free == 0


async def test_slots_freed_together_go_to_the_earliest_project_in_one_go() -> None:
    """Three slots freed at once all go to the earliest project waiting, which wants them,
    and none to the next, although the first does not come back between the releases."""
    slots = OrderedSlots(3)
    assert await slots.acquire(0, want=5) == 3
    early = asyncio.ensure_future(slots.acquire(1, want=4))
    late = asyncio.ensure_future(slots.acquire(2, want=4))
    await asyncio.sleep(0)

    for _ in range(3):  # one list saw three jobs end: three releases in a row
        slots.release()
    await asyncio.sleep(0)

    assert early.done()
    assert early.result() == 3
    assert not late.done()
    assert slots.short()
    slots.release()
    assert await late == 1
    assert not slots.short()
    assert slots.free == 0


async def test_a_waiter_takes_no_more_than_it_wants() -> None:
    slots = OrderedSlots(4)
    assert await slots.acquire(0, want=4) == 4
    first = asyncio.ensure_future(slots.acquire(0, want=2))
    second = asyncio.ensure_future(slots.acquire(1, want=5))
    await asyncio.sleep(0)

    slots.release(4)

    assert await first == 2
    assert await second == 2
    assert slots.free == 0


async def test_a_waiter_cancelled_after_part_of_its_grant_gives_it_all_back() -> None:
    slots = OrderedSlots(2)
    assert await slots.acquire(want=2) == 2
    waiter = asyncio.ensure_future(slots.acquire(0, want=3))
    other = asyncio.ensure_future(slots.acquire(1))
    await asyncio.sleep(0)
    slots.release(2)  # both to the first waiter ...
    waiter.cancel()  # ... cancelled before it runs: the next one gets a slot
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await other == 1
    assert slots.free == 1


async def test_wanting_no_slot_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await OrderedSlots(1).acquire(want=0)
