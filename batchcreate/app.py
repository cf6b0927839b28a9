"""One run of a batch, wired together: session, transport, limiters, client, runner, report.

This is the composition root; everything it builds is injected into the pure parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from rich.console import Console

from batchcreate.auth import Authenticator, NoAuth
from batchcreate.authenticators import build_project_authenticators, resolve_plan_credentials
from batchcreate.checkpoint import DEFAULT_INTERVAL, Checkpointer
from batchcreate.client import CceClient
from batchcreate.clock import Clock, SystemClock
from batchcreate.credentials import FoundCredentials
from batchcreate.lock import run_lock
from batchcreate.logs import REDACTOR
from batchcreate.plan import BatchPlan
from batchcreate.preview import ProjectPreview, live_preview
from batchcreate.progress import ProgressView, shown
from batchcreate.ratelimit import AdaptiveLimiter, RateLimiter
from batchcreate.record import ClusterRecord
from batchcreate.report import (
    Report,
    RunState,
    StoredClusters,
    Summary,
    entry_text,
    iso_utc,
    write_report,
)
from batchcreate.retry import Backoff
from batchcreate.runner import Runner, exit_code_for
from batchcreate.simulator.fake_cce import FakeCce, SimulatorConfig
from batchcreate.simulator.faults import FaultConfig, format_fault_spec
from batchcreate.simulator.server import start_simulator
from batchcreate.transport import AiohttpTransport, EnvProxies, Transport, WireMarkingRequest

log = structlog.get_logger("batchcreate.app")

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
    faults: FaultConfig = field(default_factory=FaultConfig)


@dataclass(repr=False)
class RunResult:
    report: Report
    records: list[ClusterRecord]
    exit_code: int
    #: Why the report file could not be written, if it could not.
    report_error: str | None = None

    def __repr__(self) -> str:
        # Short: asyncio formats the main task's result when it restores SIGINT, and a full
        # repr of a large fleet's records costs seconds of CPU.
        return f"RunResult(exit_code={self.exit_code}, clusters={len(self.records)})"


#: Calls whose slots fall this close after a granted one are granted with it (a wake-up
#: of the event loop saved per call at high rates; see ``AdaptiveLimiter``).
COALESCE = 0.01
#: How much longer than a second the limiters' sliding window is over a real network.
DELIVERY_SLACK = 0.005


class Limiters:
    """One rate limiter per endpoint, created on first use."""

    def __init__(
        self,
        rate: float,
        clock: Clock,
        *,
        poll_patience: float = 5.0,
        delivery_slack: float = 0.0,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._poll_patience = poll_patience
        self._delivery_slack = delivery_slack
        self.by_key: dict[str, AdaptiveLimiter] = {}

    def __call__(self, key: str) -> RateLimiter:
        limiter = self.by_key.get(key)
        if limiter is None:
            limiter = self.by_key[key] = AdaptiveLimiter(
                self._rate,
                self._clock,
                poll_patience=self._poll_patience,
                coalesce=COALESCE,
                delivery_slack=self._delivery_slack,
            )
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


class BatchRun:
    """One run of a plan over a transport: the runner, its checkpoints, and its report."""

    def __init__(
        self,
        plan: BatchPlan,
        transport: Transport,
        auth: Authenticator,
        clock: Clock,
        *,
        simulated: bool = False,
        backoff: Backoff | None = None,
        report_path: Path | None = None,
        checkpoint_interval: float = DEFAULT_INTERVAL,
        extra_settings: dict[str, Any] | None = None,
        redact: Callable[[str], str] | None = None,
        delivery_slack: float = 0.0,
    ) -> None:
        """``delivery_slack``: see ``AdaptiveLimiter``; for a transport over a real network
        (``DELIVERY_SLACK``), not for the in-memory one."""
        self.plan = plan
        self.clock = clock
        self.auth = auth
        self.simulated = simulated
        self.report_path = report_path
        self.extra_settings = extra_settings or {}
        self._redact = redact
        backoff = backoff or Backoff(plan.settings.retry)
        # A poll waits at most one poll interval behind creates that came after it.
        self.limiters = Limiters(
            plan.settings.rate_limit,
            clock,
            poll_patience=plan.settings.poll.interval,
            delivery_slack=delivery_slack,
        )
        self.client = CceClient(
            transport,
            auth,
            self.limiters,
            clock,
            backoff,
            call_budget=plan.settings.timeout,
        )
        self.checkpoints = Checkpointer(self._checkpoint, clock, checkpoint_interval)
        self.runner = Runner(plan, self.client, clock, backoff=backoff, on_change=self._changed)
        self.stop_code: int | None = None
        self._started = (clock.time(), clock.monotonic())
        #: Each record's report entry, once final (see ``_entry``).
        self._entries: list[str | None] = [None] * len(self.runner.records)
        #: The latest entry of each unfinished record, with the state it shows.
        self._provisional: dict[int, tuple[tuple[object, ...], str]] = {}
        self._index = {id(r): i for i, r in enumerate(self.runner.records)}

    def stop(self, reason: str, code: int) -> None:
        """End the run early (a signal): nothing more is sent; exit with ``code``."""
        if self.stop_code is None:
            self.stop_code = code
        self.runner.stop(reason)

    def _changed(self, record: ClusterRecord) -> None:
        """A record changed: the report is due for a checkpoint, and a finished cluster's
        entry is rendered now, once (a checkpoint would otherwise render every cluster
        finished since the last, thousands at a time in a large fleet, holding up the
        event loop)."""
        if record.done:
            self._entry(self._index[id(record)], record)
        self.checkpoints.mark()

    def _entry(self, index: int, record: ClusterRecord) -> str:
        """A cluster's report entry as text, kept once its outcome is final (checkpoints
        rewrite the whole report, and a finished cluster's entry no longer changes), and
        while unfinished, kept for as long as the record does not change (a large fleet
        waits mostly unsent: each checkpoint would render thousands of the same entries)."""
        text = self._entries[index]
        if text is not None:
            return text
        state = None
        if not record.done:
            state = record.state()
            kept = self._provisional.get(index)
            if kept is not None and kept[0] == state:
                return kept[1]
        text = self._render(record)
        if state is None:
            self._entries[index] = text
            self._provisional.pop(index, None)
        else:
            self._provisional[index] = (state, text)
        return text

    def _render(self, record: ClusterRecord) -> str:
        cluster = record.to_result()
        if self._redact is not None:
            # Error texts come from servers and from us; neither may carry a secret out.
            if cluster.reason:
                cluster.reason = self._redact(cluster.reason)
            if cluster.last_error is not None:
                cluster.last_error.message = self._redact(cluster.last_error.message)
        return entry_text(cluster)

    def report(self, state: RunState, exit_code: int | None = None) -> Report:
        """The report as things stand; unfinished clusters show their provisional outcome."""
        started_wall, started_mono = self._started
        records = self.runner.records
        outcomes = [r.provisional()[0] for r in records]
        report = Report(
            batch=self.plan.name,
            state=state,
            started_at=iso_utc(started_wall) or "",
            finished_at=iso_utc(self.clock.time()) or "",
            duration_seconds=round(self.clock.monotonic() - started_mono, 3),
            settings={
                **self.plan.settings.to_report(),
                "auth": self.auth.describe(),
                **self.extra_settings,
            },
            summary=Summary.of_outcomes(outcomes),
            clusters=[],
            calls=self.client.stats.to_report(),
            simulated=self.simulated,
            exit_code=exit_code,
        )
        # Set after validation: the entries stay text (a model each would be 4 times larger).
        report.clusters = StoredClusters(
            [self._entry(i, r) for i, r in enumerate(records)], outcomes
        )
        return report

    def _checkpoint(self) -> None:
        if self.report_path is not None:
            write_report(self.report(RunState.RUNNING), self.report_path)

    async def run(self) -> RunResult:
        """Run to the end (or to a stop) and return the final report, not yet written."""
        self._started = (self.clock.time(), self.clock.monotonic())
        self.checkpoints.write_now()
        self.checkpoints.start()
        try:
            records = await self.runner.run()
        finally:
            await self.checkpoints.stop()
        code = exit_code_for(records, auth_rejected=self.runner.auth_rejected)
        state = RunState.FINISHED
        if self.stop_code is not None:
            code, state = self.stop_code, RunState.INTERRUPTED
        return RunResult(self.report(state, code), records, code)


async def execute(
    plan: BatchPlan,
    transport: Transport,
    auth: Authenticator,
    clock: Clock,
    *,
    simulated: bool = False,
    backoff: Backoff | None = None,
) -> RunResult:
    """Run ``plan`` over ``transport`` and build its report (not written)."""
    return await BatchRun(plan, transport, auth, clock, simulated=simulated, backoff=backoff).run()


def _install_stop_signals(run: BatchRun) -> Callable[[], None]:
    """SIGINT and SIGTERM stop the run gracefully; a second SIGINT exits at once (the last
    checkpoint is a valid report). Returns a function that removes the handlers."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if run.stop_code is not None:
            if signum == signal.SIGINT:
                os._exit(128 + signum)
            return
        run.stop(f"stopped by {name}", 128 + signum)

    installed: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed[signum] = previous
        except (NotImplementedError, RuntimeError):  # not the main thread: tests
            pass

    def remove() -> None:
        # Give the signals back to the handlers they had (the CLI's), not to the defaults:
        # a SIGTERM while the final report is written must still end cleanly.
        for signum, previous in installed.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, previous)

    return remove


@dataclass(frozen=True)
class TlsOptions:
    """How the client checks the servers' certificates."""

    ca_bundle: Path | None = None
    insecure: bool = False

    def ssl_setting(self) -> ssl.SSLContext | bool:
        """What aiohttp's connector takes: a context that also trusts ``ca_bundle``, False
        to skip verification, or True for aiohttp's own verifying context (the system's
        CAs, as ``ssl.create_default_context()``, loaded as aiohttp is imported: making
        another one costs 55 ms of CPU each run)."""
        if self.insecure:
            return False
        if self.ca_bundle is None:
            return True
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(self.ca_bundle))
        return context

    def to_report(self) -> dict[str, Any]:
        return {
            "verify": not self.insecure,
            "caBundle": str(self.ca_bundle) if self.ca_bundle else None,
        }


@dataclass
class Connection:
    """What a run talks through: the plan as it will be sent, the transport, credentials."""

    plan: BatchPlan
    transport: Transport
    auth: Authenticator
    extra_settings: dict[str, Any]


@contextlib.asynccontextmanager
async def connected(
    plan: BatchPlan,
    *,
    simulate: SimulateOptions | None = None,
    auth_factory: Callable[[], Authenticator] | None = None,
    clock: Clock,
    tls: TlsOptions | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> AsyncIterator[Connection]:
    """One session, credentials and (for ``--simulate``) the embedded simulator, for the
    duration of the block.

    Credentials come from ``auth_factory`` when given, else from each project's sources
    (``batchcreate.credentials``), resolved before anything is sent (``CredentialsError``).
    ``--simulate`` sends none: the embedded simulator checks none, and nothing may reach a
    real IAM.
    """
    tls = tls or TlsOptions()
    environ = os.environ if environ is None else environ
    found: dict[str, FoundCredentials] = {}
    if simulate is None and auth_factory is None:
        found, warnings = resolve_plan_credentials(plan, environ=environ, home=home or Path.home())
        for warning in warnings:
            log.warning("credentials.warning", message=warning)
    connector = aiohttp.TCPConnector(ssl=tls.ssl_setting())
    # Honour HTTPS_PROXY/NO_PROXY against the cloud (looked up once per endpoint, not by
    # aiohttp's trust_env on every request); a loopback simulator is reached directly.
    proxies = EnvProxies(environ) if simulate is None else None
    async with (
        aiohttp.ClientSession(
            connector=connector, trust_env=False, request_class=WireMarkingRequest
        ) as session,
        contextlib.AsyncExitStack() as stack,
    ):
        transport = AiohttpTransport(
            session, timeout=plan.settings.request_timeout, proxies=proxies
        )
        auth: Authenticator
        if auth_factory is not None:
            auth = auth_factory()
        elif simulate is not None:
            auth = NoAuth()
        else:
            auth = build_project_authenticators(
                found,
                {p.id: p.region for p in plan.projects},
                clock=clock,
                transport=transport,
                environ=environ,
                on_secret=REDACTOR.add,
            )
        extra: dict[str, Any] = {"tls": tls.to_report()}
        if simulate is not None:
            cce = FakeCce(
                SimulatorConfig(
                    job_duration=simulate.job_duration,
                    fail_rate=simulate.fail_rate,
                    seed=simulate.seed,
                    faults=simulate.faults,
                ),
                clock=clock,
            )
            sim = await stack.enter_async_context(await start_simulator(cce))
            plan = simulated_plan(plan, sim.url, simulate.time_scale)
            extra |= {
                "timeScale": simulate.time_scale,
                "simulator": {
                    "jobDuration": simulate.job_duration,
                    "failRate": simulate.fail_rate,
                    "seed": simulate.seed,
                    "faults": format_fault_spec(simulate.faults),
                },
            }
        yield Connection(plan, transport, auth, extra)


async def run_batch(
    plan: BatchPlan,
    report_path: Path,
    *,
    simulate: SimulateOptions | None = None,
    auth_factory: Callable[[], Authenticator] | None = None,
    clock: Clock | None = None,
    checkpoint_interval: float = DEFAULT_INTERVAL,
    tls: TlsOptions | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    progress: Console | None = None,
    extra_settings: dict[str, Any] | None = None,
) -> RunResult:
    """Run ``plan`` for real (or against the embedded simulator) and write the report.

    Holds the report path's lock for the whole run (``LockedError`` if another run has it),
    checkpoints the report while running, shows ``progress`` on that console if given, and
    stops gracefully on SIGINT and SIGTERM.
    """
    clock = clock or SystemClock()
    with run_lock(report_path):
        async with connected(
            plan,
            simulate=simulate,
            auth_factory=auth_factory,
            clock=clock,
            tls=tls,
            environ=environ,
            home=home,
        ) as link:
            run = BatchRun(
                link.plan,
                link.transport,
                link.auth,
                clock,
                simulated=simulate is not None,
                report_path=report_path,
                checkpoint_interval=checkpoint_interval,
                extra_settings=link.extra_settings | (extra_settings or {}),
                redact=REDACTOR.text,
                delivery_slack=DELIVERY_SLACK,
            )
            remove_signals = _install_stop_signals(run)
            view = (
                None
                if progress is None
                else ProgressView(run.runner.records, run.limiters.by_key, clock, progress)
            )
            try:
                async with shown(view):
                    result = await run.run()
            finally:
                remove_signals()
        try:
            write_report(result.report, report_path)
        except OSError as exc:
            # The run happened: its results must not be lost with the file. The caller shows
            # them.
            result.report_error = f"{exc.strerror or exc}"
    return result


async def preview_batch(
    plan: BatchPlan,
    *,
    simulate: SimulateOptions | None = None,
    tls: TlsOptions | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> list[ProjectPreview]:
    """``run --dry-run``: one list call per project, never a create."""
    clock = SystemClock()
    async with connected(
        plan,
        simulate=simulate,
        clock=clock,
        tls=tls,
        environ=environ,
        home=home,
    ) as link:
        limiters = Limiters(link.plan.settings.rate_limit, clock)
        client = CceClient(
            link.transport,
            link.auth,
            limiters,
            clock,
            Backoff(link.plan.settings.retry),
            call_budget=link.plan.settings.request_timeout * link.plan.settings.retry.attempts,
        )
        return await live_preview(link.plan, client)
