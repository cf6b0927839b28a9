"""The batch runner: create every cluster concurrently within the limits, follow each
creation job to a terminal phase, and keep one record per cluster of the manifest.

Concurrency: one task per project lists the project once, then starts one task per cluster
as soon as both the project's and the batch's in-flight slots allow. Every API call goes
through the endpoint's rate limiter inside the client. One cluster's failure never stops
another's: every error ends in that cluster's record.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from batchcreate.client import CceClient
from batchcreate.clock import Clock
from batchcreate.durations import format_duration
from batchcreate.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    ThrottledError,
    TransportError,
)
from batchcreate.models import Cluster
from batchcreate.phases import CLUSTER_BROKEN, CLUSTER_READY, JobPhase, cluster_phase_settled
from batchcreate.plan import BatchPlan, ProjectPlan
from batchcreate.polling import PollSchedule, bounded
from batchcreate.record import ClusterRecord, Mark
from batchcreate.report import Outcome

log = structlog.get_logger("batchcreate.runner")

_GIVE_UP = (AuthenticationError, PermissionDeniedError)


def cluster_reason(cluster: Cluster) -> str:
    """Why a cluster is in its phase, from ``status.reason`` and ``status.message``."""
    parts = [p for p in (cluster.status.reason, cluster.status.message) if p]
    text = ": ".join(dict.fromkeys(parts))
    return text or f"cluster is {cluster.status.phase or 'in an unknown phase'}"


#: Orders runner events: a list requested after an event reflects it (on a consistent server).
_ticks = itertools.count()


@dataclass
class _ProjectState:
    """A project's shared lookups: one re-list serves every cluster that needs one."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: The tick at which the list now held was requested; None before the first list.
    listed_at: int | None = None
    by_name: dict[str, Cluster] = field(default_factory=dict)


class Runner:
    """Runs one validated batch against the API behind ``client``."""

    def __init__(self, plan: BatchPlan, client: CceClient, clock: Clock) -> None:
        self.plan = plan
        self.client = client
        self.clock = clock
        self.settings = plan.settings
        self.records = [
            ClusterRecord(project=project, plan=cluster)
            for project in plan.projects
            for cluster in project.clusters
        ]
        self.auth_rejected = False
        self._schedule = PollSchedule(self.settings.poll)
        self._in_flight = asyncio.Semaphore(self.settings.max_in_flight)
        self._projects: dict[str, _ProjectState] = {}
        self._log = log.bind(batch=plan.name)

    def now(self) -> Mark:
        return Mark(self.clock.monotonic(), self.clock.time())

    async def run(self) -> list[ClusterRecord]:
        """Run every project concurrently; return the records once every cluster is done."""
        self._log.info(
            "batch.started", clusters=len(self.records), projects=len(self.plan.projects)
        )
        async with asyncio.TaskGroup() as group:
            for project in self.plan.projects:
                records = [r for r in self.records if r.project is project]
                group.create_task(self._run_project(project, records))
        return self.records

    @property
    def anything_accepted(self) -> bool:
        return any(r.accepted is not None or r.preexisting for r in self.records)

    # ---- per project -------------------------------------------------------------------

    async def _run_project(self, project: ProjectPlan, records: list[ClusterRecord]) -> None:
        plog = self._log.bind(project=project.id, endpoint=project.rate_key)
        state = self._projects.setdefault(project.rate_key + "/" + project.id, _ProjectState())
        try:
            await self._relist(project, state, since=-1)
        except ApiError as error:
            if isinstance(error, AuthenticationError):
                self.auth_rejected = True
            plog.error("project.list_failed", error=str(error), code=error.code)
            for record in records:
                record.last_error = error
                record.reason = f"could not list the project's clusters: {error}"
            return
        plog.info("project.listed", existing=len(state.by_name), clusters=len(records))

        slots = asyncio.Semaphore(self.settings.max_in_flight_per_project)
        async with asyncio.TaskGroup() as group:
            for record in records:
                found = state.by_name.get(record.name)
                if found is not None:
                    self._adopt(record, found, preexisting=True)
                    if cluster_phase_settled(found.status.phase):
                        self._settle(record, found)
                        continue
                await slots.acquire()
                await self._in_flight.acquire()
                group.create_task(self._drive(project, record, slots))

    async def _relist(self, project: ProjectPlan, state: _ProjectState, since: int) -> None:
        """Refresh the project's list unless one requested after tick ``since`` is at hand."""
        async with state.lock:
            if state.listed_at is not None and state.listed_at > since:
                return
            started = next(_ticks)
            items = await self.client.list_clusters(project)
            state.by_name = {c.metadata.name: c for c in items if c.metadata.name}
            state.listed_at = started

    async def _lookup(self, project: ProjectPlan, name: str, since: int) -> Cluster | None:
        state = self._projects[project.rate_key + "/" + project.id]
        await self._relist(project, state, since)
        return state.by_name.get(name)

    # ---- per cluster -------------------------------------------------------------------

    async def _drive(
        self, project: ProjectPlan, record: ClusterRecord, slots: asyncio.Semaphore
    ) -> None:
        """Create or follow one cluster, holding its in-flight slots until it is terminal."""
        try:
            if record.preexisting:
                await self._follow(project, record, fresh=False)
            else:
                await self._create(project, record)
        except Exception as exc:  # one cluster's bug must not stop the batch
            # The traceback goes to debug logs only: users see one line unless they ask.
            self._log.error(
                "cluster.crashed", project=project.id, cluster=record.name, error=repr(exc)
            )
            self._log.debug("cluster.crash_traceback", cluster=record.name, exc_info=True)
            if not record.done:
                self._finish(record, Outcome.FAILED, f"internal error: {exc!r}")
        finally:
            slots.release()
            self._in_flight.release()

    def _finish(self, record: ClusterRecord, outcome: Outcome, reason: str | None = None) -> None:
        """Record a cluster's outcome, now, and say so in the log."""
        record.finish(outcome, self.now(), reason)
        self._log.info(
            "cluster.terminal",
            project=record.project.id,
            cluster=record.name,
            outcome=outcome.value,
            job_phase=record.job_phase,
            cluster_phase=record.cluster_phase,
            reason=record.reason,
        )

    def _adopt(self, record: ClusterRecord, cluster: Cluster, *, preexisting: bool) -> None:
        record.preexisting = preexisting
        record.cluster_id = cluster.metadata.uid or record.cluster_id
        record.job_id = cluster.status.job_id or record.job_id
        record.cluster_phase = cluster.status.phase

    def _settle(self, record: ClusterRecord, cluster: Cluster) -> None:
        """Finish a record from a cluster in a settled phase (ready or broken)."""
        record.cluster_phase = cluster.status.phase
        if cluster.status.phase in CLUSTER_READY:
            outcome = Outcome.EXISTING if record.preexisting else Outcome.CREATED
            self._finish(record, outcome)
        else:
            self._finish(record, Outcome.FAILED, cluster_reason(cluster))

    async def _create(self, project: ProjectPlan, record: ClusterRecord) -> None:
        clog = self._log.bind(project=project.id, cluster=record.name)

        def count_attempt() -> None:
            # Submission is when the body is first sent, not when it began to queue for a slot.
            if record.submitted is None:
                record.submitted = self.now()
                clog.debug("cluster.submitted")
            record.attempts += 1

        if self.auth_rejected:
            # A rejected credential is not retried in a loop: the gateway locks keys after
            # five failures. Nothing more is sent once one call was refused.
            self._finish(record, Outcome.NOT_STARTED, "not sent: the credentials were rejected")
            return
        try:
            cluster = await self.client.create_cluster(project, record.plan.body, count_attempt)
        except ConflictError as error:
            record.last_error = error
            found = await self._lookup_or_none(project, record)
            if found is None:
                self._finish(
                    record,
                    Outcome.FAILED,
                    record.reason
                    or f"the service says the name is taken ({error.error_code}: {error.message}) "
                    "but no cluster of that name is in the project's list; another cluster may "
                    "use it as its alias",
                )
                return
            clog.info("cluster.exists", cluster_id=found.metadata.uid)
            self._adopt(record, found, preexisting=True)
            if cluster_phase_settled(found.status.phase):
                self._settle(record, found)
            else:
                await self._follow(project, record, fresh=False)
            return
        except ThrottledError as error:
            record.last_error = error
            self._finish(
                record,
                Outcome.NOT_STARTED,
                f"throttled on every attempt: {error.message}",
            )
            return
        except (ServerError, TransportError) as error:
            # The create may or may not have happened: look before deciding.
            record.last_error = error
            found = await self._lookup_or_none(project, record)
            if found is None:
                self._finish(
                    record,
                    Outcome.FAILED,
                    record.reason
                    or f"create failed ({error}) and the cluster is not in the project's list; "
                    "a rerun adopts it if it appears later",
                )
                return
            clog.info("cluster.adopted", cluster_id=found.metadata.uid)
            self._adopt(record, found, preexisting=False)
        except ApiError as error:
            if isinstance(error, AuthenticationError):
                self.auth_rejected = True
            record.last_error = error
            self._finish(
                record,
                Outcome.REJECTED,
                f"{error.error_code or error.code}: {error.message}",
            )
            return
        else:
            self._adopt(record, cluster, preexisting=False)
        record.accepted = self.now()
        clog.info("cluster.accepted", cluster_id=record.cluster_id, job_id=record.job_id)
        await self._follow(project, record, fresh=True)

    async def _lookup_or_none(self, project: ProjectPlan, record: ClusterRecord) -> Cluster | None:
        """The cluster named like ``record``, from a list requested after its create's answer."""
        since = next(_ticks)
        try:
            return await self._lookup(project, record.name, since)
        except ApiError as error:
            record.reason = (
                f"the create's outcome is unknown and the project could not be listed: {error}; "
                "a rerun adopts the cluster if it exists"
            )
            return None

    async def _follow(self, project: ProjectPlan, record: ClusterRecord, *, fresh: bool) -> None:
        """Watch a cluster to a terminal phase or its deadline."""
        start = record.submitted if fresh and record.submitted else self.now()
        deadline = start.mono + self.settings.timeout
        first_cluster_delay = self._schedule.first_delay(fresh=fresh)
        if record.job_id:
            if not await self._watch_job(project, record, deadline, fresh=fresh):
                return
            first_cluster_delay = 0.0
        if record.cluster_id is None:
            found = await self._lookup_or_none(project, record)
            if found is None or not found.metadata.uid:
                self._finish(record, Outcome.FAILED, "the service gave no cluster id to follow")
                return
            record.cluster_id = found.metadata.uid
        await self._watch_cluster(project, record, deadline, first_cluster_delay)

    async def _wait(self, delay: float, deadline: float) -> None:
        await self.clock.sleep(bounded(delay, self.clock.monotonic(), deadline))

    def _timed_out(self, record: ClusterRecord, deadline: float, phase: str | None) -> bool:
        if self.clock.monotonic() < deadline:
            return False
        self._finish(
            record,
            Outcome.TIMED_OUT,
            f"still {phase or 'in an unknown phase'} "
            f"after {format_duration(self.settings.timeout)}",
        )
        return True

    async def _watch_job(
        self, project: ProjectPlan, record: ClusterRecord, deadline: float, *, fresh: bool
    ) -> bool:
        """Poll the job; True when it succeeded or vanished and the cluster is next to watch."""
        assert record.job_id is not None
        delay = self._schedule.first_delay(fresh=fresh)
        polls = 0
        while True:
            await self._wait(delay, deadline)
            polls += 1
            record.polls += 1
            try:
                job = await self.client.show_job(project, record.job_id)
            except NotFoundError as error:
                # Job records are short-lived; the cluster's own phase tells the rest.
                record.last_error = error
                self._log.info("job.vanished", project=project.id, cluster=record.name)
                return True
            except _GIVE_UP as error:
                record.last_error = error
                self._finish(record, Outcome.FAILED, f"stopped following the job: {error}")
                return False
            except ApiError as error:
                record.last_error = error
            else:
                record.job_phase = job.status.phase
                record.cluster_id = record.cluster_id or job.spec.cluster_uid
                self._log.debug(
                    "job.polled", project=project.id, cluster=record.name, phase=record.job_phase
                )
                if job.status.phase == JobPhase.SUCCESS:
                    return True
                if job.status.phase == JobPhase.FAILED:
                    await self._peek_cluster(project, record)
                    reason = job.failure_reason() or "the creation job failed without a reason"
                    self._finish(record, Outcome.FAILED, reason)
                    return False
            if self._timed_out(record, deadline, record.job_phase):
                return False
            delay = self._schedule.delay_after(polls)

    async def _peek_cluster(self, project: ProjectPlan, record: ClusterRecord) -> None:
        """Best effort: learn the phase a failed job left the cluster in."""
        if record.cluster_id is None:
            return
        try:
            cluster = await self.client.show_cluster(project, record.cluster_id)
        except ApiError:
            return
        record.polls += 1
        record.cluster_phase = cluster.status.phase

    async def _watch_cluster(
        self, project: ProjectPlan, record: ClusterRecord, deadline: float, first_delay: float
    ) -> None:
        assert record.cluster_id is not None
        delay = first_delay
        polls = 0
        while True:
            if delay > 0:
                await self._wait(delay, deadline)
            polls += 1
            record.polls += 1
            try:
                cluster = await self.client.show_cluster(project, record.cluster_id)
            except NotFoundError as error:
                record.last_error = error
                self._finish(record, Outcome.FAILED, "the cluster no longer exists")
                return
            except _GIVE_UP as error:
                record.last_error = error
                self._finish(record, Outcome.FAILED, f"stopped following the cluster: {error}")
                return
            except ApiError as error:
                record.last_error = error
            else:
                record.cluster_phase = cluster.status.phase
                if cluster.status.phase in CLUSTER_READY or cluster.status.phase in CLUSTER_BROKEN:
                    self._settle(record, cluster)
                    return
            if self._timed_out(record, deadline, record.cluster_phase):
                return
            delay = self._schedule.delay_after(polls)


def exit_code_for(records: Iterable[ClusterRecord], *, auth_rejected: bool) -> int:
    """0 when every cluster is created or existing; 3 when credentials were rejected before
    anything was created; 1 otherwise."""
    records = list(records)
    if all(r.outcome in (Outcome.CREATED, Outcome.EXISTING) for r in records):
        return 0
    if auth_rejected and not any(r.accepted for r in records):
        return 3
    return 1
