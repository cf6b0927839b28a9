"""When to look at a job again: a pure schedule, bounded by each cluster's deadline."""

from __future__ import annotations

from dataclasses import dataclass

from batchcreate.settings import PollSettings


@dataclass(frozen=True)
class PollSchedule:
    """The gaps between polls: ``initial_delay``, then ``interval`` growing by ``backoff``
    per poll up to ``max_interval``."""

    settings: PollSettings

    def first_delay(self, *, fresh: bool) -> float:
        """Wait before the first poll: a job just submitted cannot finish before
        ``initial_delay``; one found already running is looked at after one ``interval``."""
        return self.settings.initial_delay if fresh else self.settings.interval

    def delay_after(self, polls: int) -> float:
        """Wait after the ``polls``-th poll (counting from 1) that found the job unfinished."""
        grown = self.settings.interval * self.settings.backoff ** max(0, polls - 1)
        return min(grown, self.settings.max_interval)


def bounded(delay: float, now: float, deadline: float) -> float:
    """``delay``, cut short so that the wait ends no later than ``deadline``."""
    return max(0.0, min(delay, deadline - now))
