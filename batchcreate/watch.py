"""One project's view of its clusters: the shared list, and the watch that observes every
unfinished cluster of the project through it.

The list call (``GET .../clusters``) shows every cluster of a project, with its phase, in
one call: one list observes all of a project's unfinished creations at the cost of one job
poll. So a project is watched, not each job: the watch lists the project when its
unfinished jobs are worth looking at (``polling.next_list_delay``: not before the first can
have ended, every ``interval`` while ends are likely, stretched while they are not) and
hands each cluster that reached a settled phase to the task waiting for it. Each list
teaches the batch's ``CompletionModel`` the durations of the jobs it saw end.

Every list of the project goes through ``relist``, so that lookups (a 409, a create whose
outcome is unknown, a last look at a deadline) and the watch share lists: a list requested
after an event reflects it, and one list serves every task that waits for one.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from batchcreate.client import CceClient
from batchcreate.clock import Clock
from batchcreate.errors import ApiError
from batchcreate.models import Cluster
from batchcreate.phases import cluster_phase_settled
from batchcreate.plan import ProjectPlan
from batchcreate.polling import CompletionModel, may_end_within, next_list_delay
from batchcreate.ratelimit import DeadlineExceeded, Priority
from batchcreate.record import ClusterRecord
from batchcreate.retry import Backoff

log = structlog.get_logger("batchcreate.watch")

#: Orders list requests and the events they must reflect (on a consistent server).
_ticks = itertools.count()


def tick() -> int:
    """A point in the order of events: a list requested after it reflects it."""
    return next(_ticks)


@dataclass
class _Watched:
    record: ClusterRecord
    #: When the cluster's job started (monotonic): its acceptance, or when it was found.
    since: float
    #: Whether ``since`` is the job's real start (a create of this run), so that its end
    #: teaches the completion model.
    timed: bool
    #: The cluster once settled; None when it left the project's list after being in it.
    settled: asyncio.Future[Cluster | None]
    #: When the latest list that showed the cluster unfinished was sent.
    seen_running: float = field(default=0.0)
    #: Whether a list has shown the cluster (a new one may be missing from the first lists).
    seen: bool = False


class ProjectWatch:
    """The shared list of one project, and the watch over its unfinished clusters."""

    def __init__(
        self,
        project: ProjectPlan,
        client: CceClient,
        clock: Clock,
        model: CompletionModel,
        backoff: Backoff,
        slots_short: Callable[[], bool] = lambda: False,
    ) -> None:
        self.project = project
        self._slots_short = slots_short
        self._client = client
        self._clock = clock
        self._model = model
        self._backoff = backoff
        self._lock = asyncio.Lock()
        #: The tick at which the list now held was requested; None before the first list.
        self._listed_at: int | None = None
        self.by_name: dict[str, Cluster] = {}
        self._watched: dict[str, _Watched] = {}
        #: A cluster came or went since the watch last planned: plan again.
        self._woken = False
        #: What the loop awaits while it waits (a timer, or a future while idle), and
        #: whether a wake rather than the timer ended it.
        self._nap: asyncio.Future[None] | None = None
        self._cut_short = False
        #: When the watching list planned is due (monotonic); inf while none is planned.
        self._list_due = math.inf
        self._closed = False
        self.lists = 0
        #: When the latest list was answered (monotonic); -inf before the first.
        self.last_list_seen = float("-inf")
        #: Watch lists in a row that saw no watched cluster settle.
        self._quiet = 0
        #: Watched clusters that lists saw settle or vanish, in all (not those whose watch
        #: ended otherwise: a failed job, a deadline, refused lists).
        self.ended = 0

    # ---- the shared list ---------------------------------------------------------------

    async def relist(
        self, since: int, *, priority: Priority = Priority.LIST, deadline: float | None = None
    ) -> None:
        """Refresh the list unless one requested after tick ``since`` is at hand."""
        async with self._lock:
            if self._listed_at is not None and self._listed_at > since:
                return
            started = tick()
            items = await self._client.list_clusters(
                self.project, priority=priority, deadline=deadline
            )
            # What the list shows is as of its answer, not of when it began to queue for a
            # slot (which, under a tight budget, can be long before).
            seen = self._clock.monotonic()
            self.lists += 1
            self.last_list_seen = seen
            self.by_name = {c.metadata.name: c for c in items if c.metadata.name}
            self._listed_at = started
            self._observe(seen)

    async def look_up(
        self, name: str, record: ClusterRecord, *, tries: int = 1
    ) -> tuple[bool, Cluster | None]:
        """(whether the project could be listed, the cluster called ``name``), from a list
        requested after now; up to ``tries`` lists, spaced out, until it shows up."""
        for attempt in range(1, tries + 1):
            since = tick()
            try:
                await self.relist(since)
            except (ApiError, DeadlineExceeded) as error:
                if isinstance(error, ApiError):
                    record.last_error = error
                return False, None
            found = self.by_name.get(name)
            if found is not None or attempt == tries:
                return True, found
            await self._clock.sleep(self._backoff.delay(attempt))
        return True, None

    # ---- the watch ---------------------------------------------------------------------

    def watch(
        self, record: ClusterRecord, since: float, *, timed: bool
    ) -> asyncio.Future[Cluster | None]:
        """A future resolved with the cluster once a list shows it settled (ready or
        broken), with None once a list no longer shows a cluster an earlier one did, or
        failed with the error that stopped the project's lists for good."""
        future: asyncio.Future[Cluster | None] = asyncio.get_running_loop().create_future()
        self._watched[record.name] = _Watched(record, since, timed, future, seen_running=since)
        self._model.watch()
        # Plan again only when the watch was idle, or when the newcomer can bring the list
        # forward: waking the loop for every accepted cluster would cost a replanning over
        # all the watched ones each time, mostly for nothing.
        if len(self._watched) == 1 or self._may_hasten(since):
            self._wake()
        return future

    def _wake(self) -> None:
        """Have the loop plan again: at once if it waits, else at its next turn."""
        self._woken = True
        nap = self._nap
        if nap is not None and not nap.done():
            self._cut_short = True
            nap.set_result(None)

    def _may_hasten(self, since: float) -> bool:
        """Whether a job started at ``since`` can bring the planned list forward: it may end
        within an interval, and the list is planned later than one interval from now. (A
        plan is never sooner than an interval away, ``next_list_delay``: a list due sooner
        cannot be brought forward.)"""
        now = self._clock.monotonic()
        interval = self._model.settings.interval
        return self._list_due > now + interval and may_end_within(
            now - since, interval, self._model.earliest()
        )

    def unwatch(self, record: ClusterRecord) -> None:
        watched = self._watched.get(record.name)
        if watched is None:
            return
        self._forget(watched)
        if not watched.settled.done():
            watched.settled.cancel()

    def close(self) -> None:
        """No cluster of the project will be watched any more: ``run`` returns, and the
        list is let go (a large fleet's finished projects would hold every list)."""
        self._closed = True
        self.by_name = {}
        self._wake()

    async def run(self) -> None:
        """List the project whenever its unfinished clusters are worth a look."""
        planned = math.inf  # when the list planned before a wake was due
        while not self._closed:
            if not self._watched:
                planned = math.inf
                if not self._woken:
                    await self._nap_until(asyncio.get_running_loop().create_future())
                self._woken = False
                continue
            now = self._clock.monotonic()
            delay = next_list_delay(
                (now - w.since for w in self._watched.values()), self._model, now, quiet=self._quiet
            )
            # A newcomer may bring the list forward, never put it off.
            delay = min(delay, planned - now)
            self._woken = False
            if not await self._sleep_unless_woken(delay):
                planned = now + delay
                continue  # a cluster came: plan again
            planned = math.inf
            try:
                before = self.ended
                # A watching list waits behind creates, which start jobs' clocks; but when
                # clusters wait for an in-flight slot, seeing jobs end is what frees one.
                urgent = self._slots_short()
                await self.relist(tick(), priority=Priority.LIST if urgent else Priority.POLL)
                ended = self.ended - before
                self._quiet = 0 if ended > 0 else self._quiet + 1
                log.debug(
                    "project.watched",
                    project=self.project.id,
                    watching=len(self._watched),
                    ended=ended,
                    waited=round(delay, 3),
                )
            except DeadlineExceeded:
                continue
            except ApiError as error:
                self._list_failed(error)
            except Exception as exc:  # a bug here must not stop the batch: end this watch
                log.error("project.watch_crashed", project=self.project.id, error=repr(exc))
                log.debug("project.watch_traceback", project=self.project.id, exc_info=True)
                for watched in list(self._watched.values()):
                    if not watched.settled.done():
                        watched.settled.set_exception(RuntimeError(f"internal error: {exc!r}"))
                    self._forget(watched)

    async def _sleep_unless_woken(self, delay: float) -> bool:
        """Wait ``delay``; False when woken before."""
        if delay <= 0:
            return True
        self._list_due = self._clock.monotonic() + delay
        try:
            return await self._nap_until(self._clock.timer(delay))
        finally:
            self._list_due = math.inf

    async def _nap_until(self, nap: asyncio.Future[None]) -> bool:
        """Wait until ``nap`` is done or a wake cuts it short; False when woken. (One
        future to wait on, which a wake resolves: no task, no ``asyncio.wait``.)"""
        self._nap, self._cut_short = nap, False
        try:
            await nap
        finally:
            self._nap = None
            nap.cancel()  # drops the timer when cancelled from outside
        return not self._cut_short

    def _list_failed(self, error: ApiError) -> None:
        """A watch list failed after the client's retries: the clusters carry the error;
        rejected credentials end the watch of every one of them."""
        log.info("project.list_failed", project=self.project.id, error=str(error))
        for watched in list(self._watched.values()):
            watched.record.last_error = error
            if not error.retryable and not watched.settled.done():
                watched.settled.set_exception(error)
                self._forget(watched)

    def _forget(self, watched: _Watched) -> None:
        del self._watched[watched.record.name]
        self._model.running -= 1

    def _observe(self, sent: float) -> None:
        """Hand every watched cluster the list shows settled to its waiter."""
        for name, watched in list(self._watched.items()):
            cluster = self.by_name.get(name)
            if cluster is None:
                if watched.seen:  # deleted while it was being created
                    self._forget(watched)
                    self.ended += 1
                    if not watched.settled.done():
                        watched.settled.set_result(None)
                continue
            watched.seen = True
            record = watched.record
            record.cluster_phase = cluster.status.phase
            record.cluster_id = record.cluster_id or cluster.metadata.uid
            if not cluster_phase_settled(cluster.status.phase):
                watched.seen_running = sent
                continue
            if watched.timed and sent - watched.seen_running <= self._model.settings.max_interval:
                # The job ended between the last list that saw it running and this one: a
                # sample when those lists were close (not while a tight budget held them).
                ended = (watched.seen_running + sent) / 2
                self._model.add(ended - watched.since, ended)
            self._forget(watched)
            self.ended += 1
            if not watched.settled.done():
                watched.settled.set_result(cluster)
