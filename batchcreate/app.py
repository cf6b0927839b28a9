"""One run of a batch, wired together: session, transport, limiters, client, runner, report.

This is the composition root; everything it builds is injected into the pure parts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from batchcreate.auth import Authenticator, NoAuth, credentials_from_env
from batchcreate.client import CceClient
from batchcreate.clock import Clock, SystemClock
from batchcreate.errors import CredentialsError
from batchcreate.plan import BatchPlan
from batchcreate.ratelimit import AdaptiveLimiter, RateLimiter
from batchcreate.record import ClusterRecord
from batchcreate.report import Report, Summary, iso_utc, write_report
from batchcreate.retry import Backoff
from batchcreate.runner import Runner, exit_code_for
from batchcreate.simulator.fake_cce import FakeCce, SimulatorConfig
from batchcreate.simulator.server import start_simulator
from batchcreate.transport import AiohttpTransport, Transport

#: How much faster than the cloud the embedded simulator runs: 150 s of real polling delay
#: becomes 1.5 s, a 30-minute timeout 18 s.
DEFAULT_TIME_SCALE = 0.01


@dataclass(frozen=True)
class SimulateOptions:
    """``run --simulate``: the embedded simulator's behaviour and time scale."""

    job_duration: float = 3.0
    fail_rate: float = 0.0
    seed: int | None = None
    time_scale: float = DEFAULT_TIME_SCALE


@dataclass
class RunResult:
    report: Report
    records: list[ClusterRecord]
    exit_code: int
    #: Why the report file could not be written, if it could not.
    report_error: str | None = None


class Limiters:
    """One rate limiter per endpoint, created on first use."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self._rate = rate
        self._clock = clock
        self._by_key: dict[str, RateLimiter] = {}

    def __call__(self, key: str) -> RateLimiter:
        limiter = self._by_key.get(key)
        if limiter is None:
            limiter = self._by_key[key] = AdaptiveLimiter(self._rate, self._clock)
        return limiter


def simulated_plan(plan: BatchPlan, url: str, time_scale: float) -> BatchPlan:
    """The plan pointed at a simulator at ``url``, its waits compressed by ``time_scale``;
    each project keeps the rate limit of the endpoint it names (as against the cloud)."""
    settings = dataclasses.replace(
        plan.settings,
        timeout=plan.settings.timeout * time_scale,
        poll=plan.settings.poll.scaled(time_scale),
    )
    projects = tuple(
        dataclasses.replace(p, endpoint=url, limit_key=p.rate_key) for p in plan.projects
    )
    return dataclasses.replace(plan, settings=settings, projects=projects)


async def execute(
    plan: BatchPlan,
    transport: Transport,
    auth: Authenticator,
    clock: Clock,
    *,
    simulated: bool = False,
    backoff: Backoff | None = None,
) -> RunResult:
    """Run ``plan`` over ``transport`` and build its report (not yet written)."""
    limiters = Limiters(plan.settings.rate_limit, clock)
    client = CceClient(transport, auth, limiters, clock, backoff or Backoff(plan.settings.retry))
    runner = Runner(plan, client, clock)
    started_wall, started_mono = clock.time(), clock.monotonic()
    records = await runner.run()
    finished_wall, finished_mono = clock.time(), clock.monotonic()
    code = exit_code_for(records, auth_rejected=runner.auth_rejected)
    clusters = [r.to_result() for r in records]
    report = Report(
        batch=plan.name,
        started_at=iso_utc(started_wall) or "",
        finished_at=iso_utc(finished_wall) or "",
        duration_seconds=round(finished_mono - started_mono, 3),
        settings={**plan.settings.to_report(), "auth": auth.describe()},
        summary=Summary.of(clusters),
        clusters=clusters,
        calls=client.stats.to_report(),
        simulated=simulated,
        exit_code=code,
    )
    return RunResult(report, records, code)


async def run_batch(
    plan: BatchPlan,
    report_path: Path,
    *,
    simulate: SimulateOptions | None = None,
    auth_factory: Callable[[], Authenticator] = credentials_from_env,
    clock: Clock | None = None,
) -> RunResult:
    """Run ``plan`` for real (or against the embedded simulator) and write the report."""
    clock = clock or SystemClock()
    if simulate is None:
        auth = auth_factory()  # CredentialsError before anything is sent
    else:
        try:
            auth = auth_factory()
        except CredentialsError:
            auth = NoAuth()
    async with aiohttp.ClientSession() as session:
        transport = AiohttpTransport(session, timeout=plan.settings.request_timeout)
        if simulate is None:
            result = await execute(plan, transport, auth, clock)
        else:
            cce = FakeCce(
                SimulatorConfig(
                    job_duration=simulate.job_duration,
                    fail_rate=simulate.fail_rate,
                    seed=simulate.seed,
                ),
                clock=clock,
            )
            async with await start_simulator(cce) as sim:
                scaled = simulated_plan(plan, sim.url, simulate.time_scale)
                result = await execute(scaled, transport, auth, clock, simulated=True)
                result.report.settings["timeScale"] = simulate.time_scale
                result.report.settings["simulator"] = {
                    "jobDuration": simulate.job_duration,
                    "failRate": simulate.fail_rate,
                    "seed": simulate.seed,
                }
    try:
        write_report(result.report, report_path)
    except OSError as exc:
        # The run happened: its results must not be lost with the file. The caller shows them.
        result.report_error = f"{exc.strerror or exc}"
    return result
