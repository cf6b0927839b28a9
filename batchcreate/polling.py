"""When to look again: the completion model learned from a batch's ended jobs, and the
pure decisions made from it (when to list a project, when to read an overdue job)."""

from __future__ import annotations

import bisect
import collections
import math
from collections.abc import Iterable

from batchcreate.settings import PollSettings

#: Job ends seen before the learned model replaces the prior (``initial_delay``).
MIN_SAMPLES = 3
#: No job is expected to end sooner than this share of the fastest one seen in the batch.
EARLIEST_SHARE = 0.9
#: The recent rate of job ends is measured over at least this many ends ...
RATE_ENDS = 8
#: ... and at least this many poll intervals.
RATE_INTERVALS = 6
#: A project is listed one ``interval`` after the last list once this many of its jobs are
#: expected to have ended meanwhile; fewer stretch the gap in proportion, up to
#: ``max_interval``.
EXPECTED_ENDS = 0.1
#: When this share of the batch's jobs (at most ``LAST_JOBS``) still runs, each one's end
#: is the batch's end: their projects are listed every ``interval``, however unlikely an end.
LAST_SHARE = 0.05
LAST_JOBS = 10


class CompletionModel:
    """How soon running creation jobs end, learned from the jobs of this batch that ended.

    Two things are learned. The earliest age at which a job ends (a share of the fastest
    seen): before it, looking is pointless. And the recent hazard: the share of the
    running jobs that ended per second, lately (ends over job-seconds at risk). A batch's
    jobs mostly start together, so the durations seen so far are only the shortest ones
    and say little of when the others end; the recent rate of ends does: it rises as the
    bulk of the batch nears its typical duration and falls in the tail.

    Before ``MIN_SAMPLES`` ends, the prior is the poll settings': no job ends before
    ``initial_delay`` and, after it, a job may end at any moment.
    """

    def __init__(self, settings: PollSettings) -> None:
        self.settings = settings
        self._durations: list[float] = []  # sorted
        self._ends: collections.deque[float] = collections.deque()
        #: Jobs being watched now (they are at risk of ending).
        self.running = 0
        #: Jobs watched so far, ended or not.
        self.watched = 0

    def learned(self) -> bool:
        return len(self._durations) >= MIN_SAMPLES

    def add(self, duration: float, at: float) -> None:
        """A job of this batch was seen ended at ``at`` after ``duration``."""
        bisect.insort(self._durations, max(0.0, duration))
        self._ends.append(at)

    def earliest(self) -> float:
        """The age before which no job is expected to end."""
        if not self.learned():
            return self.settings.initial_delay
        return EARLIEST_SHARE * self._durations[0]

    def median(self) -> float | None:
        if not self.learned():
            return None
        return self._durations[len(self._durations) // 2]

    def watch(self) -> None:
        """One more job is being watched."""
        self.running += 1
        self.watched += 1

    def last_jobs(self) -> int:
        """How few running jobs make the batch's tail: 5% of the jobs, 1 to ``LAST_JOBS``."""
        return max(1, min(LAST_JOBS, int(LAST_SHARE * self.watched)))

    def hazard(self, now: float) -> float | None:
        """Ends per running job per second, lately; None before the model has learned."""
        if not self.learned():
            return None
        window = RATE_INTERVALS * self.settings.interval
        ends = self._ends
        # Keep the ends within the window, or the latest RATE_ENDS when fewer are.
        while len(ends) > RATE_ENDS and ends[0] <= now - window:
            ends.popleft()
        recent = len(ends)
        span = max(window, now - ends[0])
        # Those that ended were at risk for about half the span, on average.
        at_risk = (self.running + recent / 2) * span
        return recent / at_risk if at_risk > 0 else None


def may_end_within(age: float, interval: float, earliest: float) -> bool:
    """Whether a job ``age`` seconds old may have ended by one ``interval`` from now, the
    earliest a job ends being ``earliest`` (``CompletionModel.earliest``)."""
    return age + interval >= earliest


def next_list_delay(
    ages: Iterable[float], model: CompletionModel, now: float, *, quiet: int = 0
) -> float:
    """Seconds from ``now`` (just after a list) until the project is worth listing again.

    ``ages`` are the ages of the project's unfinished jobs; ``quiet`` counts the project's
    lists in a row that saw none of them end. While none can have ended yet (all younger
    than ``model.earliest()``), the next list waits for the first that can.

    Before the model has learned, the gaps are the classic schedule's: ``interval`` after
    the first quiet list, growing by ``backoff`` per further one up to ``max_interval``
    (for one job; with ``n`` jobs that can have ended, a quiet list says less, and the gap
    grows by ``backoff ** (1/n)``).

    After, each job that can have ended ends at the batch's recent hazard: the project is
    listed every ``interval`` while at least ``EXPECTED_ENDS`` of them are expected to end
    within one interval, and the gap stretches in proportion when fewer are (up to
    ``max_interval``); but every ``interval`` for the batch's last jobs (``last_jobs``).
    """
    interval = model.settings.interval
    longest = max(model.settings.max_interval, interval)
    earliest = model.earliest()
    active = 0
    soonest = math.inf
    for age in ages:
        if may_end_within(age, interval, earliest):
            active += 1
        else:
            soonest = min(soonest, earliest - age)
    if active == 0:
        return max(interval, soonest) if soonest != math.inf else longest
    hazard = model.hazard(now)
    if hazard is None:
        growth: float = model.settings.backoff ** (max(0, quiet - 1) / active)
        return min(longest, interval * growth)
    if model.running <= model.last_jobs():
        return interval
    expected = active * hazard * interval
    if expected >= EXPECTED_ENDS:
        return interval
    return min(longest, interval * EXPECTED_ENDS / expected) if expected > 0 else longest


def job_check_age(model: CompletionModel, checks: int, timeout: float) -> float:
    """The age of a job at which its own phase is read for the ``checks``-th time (from 0)
    while the lists still show its cluster unfinished: a safety net for a job that ended
    while its cluster never reaches a settled phase, or a cluster the lists do not show.
    Not before three times the typical duration, nor four times ``initial_delay``; before
    the model has learned (no typical duration), half the ``timeout``. Then twice as late
    each time."""
    typical = model.median()
    floor = 4 * model.settings.initial_delay
    base = max(floor, 3 * typical) if typical is not None else max(floor, timeout / 2)
    return base * 2.0**checks
