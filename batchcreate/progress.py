"""The live progress view for a person at a terminal (rich), and its pure snapshot.

``snapshot`` condenses the runner's records and the endpoints' limiters into numbers; the
view draws them every half second on stderr while the batch runs. Logs are routed through
the same console meanwhile (``logs.route_through``), so they never tear the view.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from batchcreate import logs
from batchcreate.clock import Clock
from batchcreate.durations import format_duration
from batchcreate.ratelimit import AdaptiveLimiter
from batchcreate.record import ClusterRecord
from batchcreate.report import Outcome, Report, unsuccessful

#: Per-project lines are drawn for batches of at most this many projects.
MAX_PROJECT_LINES = 12
REFRESH_SECONDS = 0.5


@dataclass(frozen=True)
class EndpointLoad:
    endpoint: str
    rate: float
    configured: float
    calls_per_second: float
    throttled: bool


@dataclass(frozen=True)
class Snapshot:
    """Where the batch stands, in numbers."""

    total: int
    done: int
    outcomes: dict[str, int]
    phases: dict[str, int]
    projects: list[tuple[str, int, int]]  # (project, done, total)
    endpoints: list[EndpointLoad] = field(default_factory=list)
    elapsed: float = 0.0
    eta: float | None = None


def phase_of(record: ClusterRecord) -> str:
    """What an unfinished cluster is doing, in a word."""
    if record.submitted is None and not record.preexisting:
        return "queued"
    if record.accepted is None and not record.preexisting:
        return "submitting"
    return record.job_phase or record.cluster_phase or "accepted"


def snapshot(
    records: Sequence[ClusterRecord],
    limiters: dict[str, AdaptiveLimiter],
    *,
    elapsed: float,
    now: float,
    calls_per_second: dict[str, float],
) -> Snapshot:
    """The numbers the view shows, computed from the run's live state."""
    outcomes: collections.Counter[str] = collections.Counter()
    phases: collections.Counter[str] = collections.Counter()
    per_project: dict[str, list[int]] = {}
    for record in records:
        counts = per_project.setdefault(record.project.id, [0, 0])
        counts[1] += 1
        if record.done:
            outcomes[record.outcome.value] += 1
            counts[0] += 1
        else:
            phases[phase_of(record)] += 1
    done = sum(outcomes.values())
    eta = None
    if 0 < done < len(records) and elapsed > 0:
        eta = elapsed / done * (len(records) - done)
    endpoints = [
        EndpointLoad(
            key,
            limiter.rate,
            limiter.configured_rate,
            calls_per_second.get(key, 0.0),
            limiter.paused_until > now or limiter.rate < limiter.configured_rate,
        )
        for key, limiter in sorted(limiters.items())
    ]
    return Snapshot(
        total=len(records),
        done=done,
        outcomes=dict(outcomes),
        phases=dict(phases),
        projects=[(p, c[0], c[1]) for p, c in per_project.items()],
        endpoints=endpoints,
        elapsed=elapsed,
        eta=eta,
    )


def render(snap: Snapshot) -> RenderableType:
    """The live view of a snapshot."""
    head = Table.grid(padding=(0, 2))
    head.add_row(
        ProgressBar(total=max(snap.total, 1), completed=snap.done, width=40),
        Text(f"{snap.done}/{snap.total} clusters"),
        Text(f"elapsed {format_duration(round(snap.elapsed))}"),
        Text(f"ETA {format_duration(round(snap.eta))}" if snap.eta is not None else "ETA -"),
    )
    parts: list[RenderableType] = [head]
    outcome_text = ", ".join(f"{k} {v}" for k, v in sorted(snap.outcomes.items())) or "none yet"
    phase_text = ", ".join(f"{k} {v}" for k, v in sorted(snap.phases.items())) or "-"
    parts.append(Text(f"outcomes: {outcome_text}"))
    parts.append(Text(f"in flight: {phase_text}"))
    for load in snap.endpoints:
        flag = "  THROTTLED" if load.throttled else ""
        parts.append(
            Text(
                f"{load.endpoint}: {load.calls_per_second:.1f} calls/s, limit "
                f"{load.rate:.2g}/{load.configured:g} per s{flag}"
            )
        )
    if len(snap.projects) <= MAX_PROJECT_LINES:
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
        table.add_column("project")
        table.add_column("done", justify="right")
        for project, done, total in snap.projects:
            table.add_row(project, f"{done}/{total}")
        parts.append(table)
    return Group(*parts)


def summary_table(report: Report) -> RenderableType:
    """The end of a run for a person: outcomes, then every cluster that did not succeed."""
    counts = Table(title=f"batch {report.batch}: {report.summary.total} clusters", box=None)
    counts.add_column("outcome")
    counts.add_column("clusters", justify="right")
    summary = report.summary.model_dump()
    for outcome in Outcome:
        if summary[outcome.value]:
            counts.add_row(outcome.value, str(summary[outcome.value]))
    failures = Table(box=None, show_header=True, header_style="bold")
    failures.add_column("outcome")
    failures.add_column("project/cluster")
    failures.add_column("reason", overflow="fold")
    for cluster in unsuccessful(report.clusters):
        failures.add_row(
            cluster.outcome.value, f"{cluster.project}/{cluster.name}", cluster.reason or ""
        )
    return Group(counts, failures) if failures.row_count else counts


class ProgressView:
    """Draws the live view until stopped; routes logs through its console meanwhile."""

    def __init__(
        self,
        records: Sequence[ClusterRecord],
        limiters: dict[str, AdaptiveLimiter],
        clock: Clock,
        console: Console,
    ) -> None:
        self._records = records
        self._limiters = limiters
        self._clock = clock
        self._console = console
        self._started = clock.monotonic()
        self._last: dict[str, tuple[float, int]] = {}

    def _rates(self, now: float) -> dict[str, float]:
        rates = {}
        for key, limiter in self._limiters.items():
            then, admitted = self._last.get(key, (self._started, 0))
            rates[key] = (limiter.admitted - admitted) / max(now - then, 1e-9)
            self._last[key] = (now, limiter.admitted)
        return rates

    def current(self) -> RenderableType:
        now = self._clock.monotonic()
        return render(
            snapshot(
                self._records,
                self._limiters,
                elapsed=now - self._started,
                now=now,
                calls_per_second=self._rates(now),
            )
        )

    async def run(self) -> None:
        from rich.live import Live

        with (
            Live(self.current(), console=self._console, auto_refresh=False) as live,
            logs.route_through(self._console),
        ):
            with contextlib.suppress(asyncio.CancelledError):
                while True:
                    await self._clock.sleep(REFRESH_SECONDS)
                    live.update(self.current(), refresh=True)
            live.update(self.current(), refresh=True)


@contextlib.asynccontextmanager
async def shown(view: ProgressView | None) -> AsyncIterator[None]:
    """Run ``view`` in the background for the duration of the block (nothing when None)."""
    if view is None:
        yield
        return
    task = asyncio.ensure_future(view.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
