"""A model of the official Terraform provider's schedule for CCE clusters, in virtual time.

A small discrete-event simulation of what ``terraform apply`` does with the
``huaweicloud_cce_cluster`` resource (the provider's
``huaweicloud/services/cce/resource_huaweicloud_cce_cluster.go``, and
``../shared/docs/cce-api-facts.md``), used by ``benchmarks/schedule.py`` for a side-by-side
figure:

- **parallelism**: at most ``parallelism`` (Terraform's ``-parallelism``, default 10)
  resources are being created at a time, over the whole apply, whatever their region; the
  next starts when one ends. Resources start in manifest order.
- **per resource**: one create; after ``Delay`` (150 s) the job is polled, then every
  ``PollInterval`` (20 s) until it is done (``StateChangeConf``: the wait starts when the
  previous answer is in); then the cluster is read every 20 s until ``Available``, which
  in this model (as in the simulator) is the first read after the job succeeded. The
  provider's ``Read`` after the create (at least one more GET) is left out, in Terraform's
  favour.
- **429s**: every call refused by the server's limit is retried after sleeping 1, 2, 4, 8
  and 16 minutes (5 retries); a sixth refusal fails the resource (Terraform reports the
  error and goes on with the other resources). Terraform has no client-side rate limit.
- **timeout**: a resource still waiting ``timeout`` seconds after its create was first sent
  times out (``timeouts { create = ... }``; the provider's default is 30 min, the
  benchmark passes the same timeout it gives batchcreate).
- **the server**: one token bucket per endpoint (``batchcreate.simulator.faults.TokenBucket``,
  the simulator's own), deciding at the moment a call is sent; a job started by a create
  sent at ``t`` ends at ``t + duration``.
- **latency**: each call's answer arrives a seeded, uniformly drawn ``latency`` later (0.1 to
  0.5 s by default). Without it, ten resources started together would stay in lock-step
  forever and collide on every poll, which real networks do not do.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import random
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field

from batchcreate.simulator.faults import TokenBucket

PARALLELISM = 10
DELAY = 150.0
POLL_INTERVAL = 20.0
#: Sleeps before each retry of a call refused with a 429: 1, 2, 4, 8, 16 minutes.
THROTTLE_SLEEPS = (60.0, 120.0, 240.0, 480.0, 960.0)
LATENCY = (0.1, 0.5)


@dataclass(frozen=True)
class TfCluster:
    """One resource: its name, the endpoint whose limit its calls spend, its job's length."""

    name: str
    endpoint: str
    duration: float


@dataclass(frozen=True)
class TfLimit:
    """A server-side token bucket: ``rate`` calls per second, ``burst`` tokens, full at 0."""

    rate: float
    burst: int


@dataclass
class TfResult:
    """What the model measured."""

    makespan: float
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    throttled: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    #: Per created cluster: seconds from its job's end until Terraform saw it Available.
    detection: list[float] = field(default_factory=list)


class _Clock:
    """The simulation's time, as a ``batchcreate.clock.Clock`` for ``TokenBucket``."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError("the model advances time itself, event by event")

    def timer(self, seconds: float) -> asyncio.Future[None]:
        raise NotImplementedError("the model advances time itself, event by event")


#: What a resource's process yields: ("sleep", seconds) or ("call", kind); it is sent back
#: (admitted, time the call was sent) after a call, None after a sleep.
_Action = tuple[str, object]
_Reply = tuple[bool, float] | None
_Process = Generator[_Action, _Reply, None]


def simulate_terraform(
    clusters: Iterable[TfCluster],
    limits: Mapping[str, TfLimit],
    *,
    timeout: float,
    parallelism: int = PARALLELISM,
    seed: int = 0,
    latency: tuple[float, float] = LATENCY,
) -> TfResult:
    """Run the model over ``clusters``; an endpoint missing from ``limits`` has no limit."""
    clock = _Clock()
    rng = random.Random(seed)
    buckets = {e: TokenBucket(lim.rate, lim.burst, clock) for e, lim in limits.items()}
    result = TfResult(makespan=0.0)
    pending = collections.deque(clusters)
    heap: list[tuple[float, int, int, _Reply]] = []
    order = itertools.count()
    running: dict[int, _Process] = {}
    ids = itertools.count()

    def resource(cluster: TfCluster) -> _Process:
        start = clock.now

        def call(kind: str) -> Generator[_Action, _Reply, float | None]:
            """One call with the provider's 429 retries: the time it was admitted, or None."""
            for sleep in (*THROTTLE_SLEEPS, None):
                reply = yield ("call", kind)
                assert reply is not None
                admitted, sent = reply
                if admitted:
                    return sent
                if sleep is None:
                    return None
                yield ("sleep", sleep)
            return None  # pragma: no cover - the loop always returns

        sent = yield from call("create")
        if sent is None:
            result.outcomes["failed"] += 1
            return
        job_end = sent + cluster.duration
        yield ("sleep", DELAY)
        for kind in ("job", "cluster"):
            while True:
                if clock.now - start >= timeout:
                    result.outcomes["timed_out"] += 1
                    return
                seen = yield from call(kind)
                if seen is None:
                    result.outcomes["failed"] += 1
                    return
                if seen >= job_end:
                    break
                yield ("sleep", POLL_INTERVAL)
        result.outcomes["created"] += 1
        result.detection.append(clock.now - job_end)

    def advance(pid: int, reply: _Reply) -> None:
        process = running[pid]
        try:
            kind, arg = process.send(reply)
        except StopIteration:
            del running[pid]
            result.makespan = max(result.makespan, clock.now)
            start_next()
            return
        if kind == "sleep":
            assert isinstance(arg, float)
            heapq.heappush(heap, (clock.now + arg, next(order), pid, None))
            return
        assert isinstance(arg, str)
        endpoint = endpoints[pid]
        bucket = buckets.get(endpoint)
        admitted = bucket is None or bucket.take()
        result.calls[arg] += 1
        if not admitted:
            result.throttled += 1
        answer_at = clock.now + rng.uniform(*latency)
        heapq.heappush(heap, (answer_at, next(order), pid, (admitted, clock.now)))

    endpoints: dict[int, str] = {}

    def start_next() -> None:
        if not pending:
            return
        cluster = pending.popleft()
        pid = next(ids)
        endpoints[pid] = cluster.endpoint
        running[pid] = resource(cluster)
        # Prime the generator: it runs up to its first call.
        heapq.heappush(heap, (clock.now, next(order), pid, None))

    for _ in range(parallelism):
        start_next()
    while heap:
        at, _, pid, reply = heapq.heappop(heap)
        clock.now = max(clock.now, at)
        advance(pid, reply)
    return result
