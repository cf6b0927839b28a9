"""The batch runner: create every cluster concurrently within the limits, follow each
creation job to a terminal phase, and keep one record per cluster of the manifest.

Concurrency: one task per project lists the project once, then starts one task per cluster
as soon as both the project's and the batch's in-flight slots allow. Every API call goes
through the endpoint's limiter inside the client. One cluster's failure never stops
another's: every error ends in that cluster's record.

No duplicates: a create whose outcome is unknown (a 5xx, a reset, a timeout) is never sent
again blindly. The project is listed first; the cluster is adopted if it appeared, and the
create is sent again only when the list lacks the name. A later 409 for that name is this
run's own lost create, and the cluster is followed as ``created``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable

import structlog

from batchcreate.client import CceClient
from batchcreate.clock import Clock, ring
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
from batchcreate.phases import (
    CLUSTER_READY,
    JOB_TERMINAL,
    JobPhase,
    cluster_phase_settled,
)
from batchcreate.plan import BatchPlan, ProjectPlan
from batchcreate.polling import CompletionModel, job_check_age
from batchcreate.ratelimit import DeadlineExceeded, Priority
from batchcreate.record import ClusterRecord, Mark
from batchcreate.report import Outcome
from batchcreate.retry import Backoff
from batchcreate.slots import OrderedSlots
from batchcreate.watch import ProjectWatch, tick

log = structlog.get_logger("batchcreate.runner")

_GIVE_UP = (AuthenticationError, PermissionDeniedError)
#: How many lists may be needed to see a cluster the service says exists (a 409): lists
#: can lag behind creates.
CONFLICT_LOOKUPS = 4


def cluster_reason(cluster: Cluster) -> str:
    """Why a cluster is in its phase, from ``status.reason`` and ``status.message``."""
    parts = [p for p in (cluster.status.reason, cluster.status.message) if p]
    text = ": ".join(dict.fromkeys(parts))
    return text or f"cluster is {cluster.status.phase or 'in an unknown phase'}"


class Runner:
    """Runs one validated batch against the API behind ``client``.

    ``on_change`` is called each time a cluster is sent, accepted or reaches its outcome
    (for checkpoints).
    ``stop()`` ends the run early: nothing more is sent, and every cluster not yet terminal
    is recorded as ``interrupted`` (it was sent) or ``not_started`` (it was not).
    """

    def __init__(
        self,
        plan: BatchPlan,
        client: CceClient,
        clock: Clock,
        *,
        backoff: Backoff | None = None,
        on_change: Callable[[ClusterRecord], None] | None = None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.clock = clock
        self.settings = plan.settings
        self.records = [
            ClusterRecord(project=project, plan=cluster)
            for project in plan.projects
            for cluster in project.clusters
        ]
        #: Projects (endpoint/id) whose credentials the service rejected: nothing more is sent
        #: for them; other projects, which may use other credentials, go on.
        self.rejected_projects: set[str] = set()
        self.stop_reason: str | None = None
        self._backoff = backoff or Backoff(self.settings.retry)
        self._on_change = on_change
        self._in_flight = OrderedSlots(self.settings.max_in_flight)
        #: How long creation jobs take, learned from this batch's ended jobs.
        self.completions = CompletionModel(self.settings.poll)
        self._watches: dict[str, ProjectWatch] = {}
        self._task: asyncio.Task[list[ClusterRecord]] | None = None
        self._log = log.bind(batch=plan.name)

    @property
    def auth_rejected(self) -> bool:
        return bool(self.rejected_projects)

    def _changed(self, record: ClusterRecord) -> None:
        if self._on_change is not None:
            self._on_change(record)

    def now(self) -> Mark:
        return Mark(self.clock.monotonic(), self.clock.time())

    async def run(self) -> list[ClusterRecord]:
        """Run every project concurrently; return the records once every cluster is done."""
        self._task = asyncio.current_task()
        self._log.info(
            "batch.started", clusters=len(self.records), projects=len(self.plan.projects)
        )
        try:
            by_project: dict[int, list[ClusterRecord]] = {}
            for record in self.records:
                by_project.setdefault(id(record.project), []).append(record)
            async with asyncio.TaskGroup() as group:
                for rank, project in enumerate(self.plan.projects):
                    records = by_project.get(id(project), [])
                    group.create_task(self._run_project(project, records, rank))
        except asyncio.CancelledError:
            if self.stop_reason is None:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        self._finish_the_rest()
        return self.records

    def stop(self, reason: str) -> None:
        """Stop at once: no new request; unfinished clusters become interrupted."""
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        self._log.warning("batch.stopping", reason=reason)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _finish_the_rest(self) -> None:
        """Give every record still open an outcome: after a stop, or when its project
        could not be listed."""
        for record in self.records:
            if record.done:
                continue
            if self.stop_reason is not None and (record.submitted or record.preexisting):
                detail = (
                    f"job {record.job_id}" if record.job_id else "its create's answer not yet in"
                )
                self._finish(
                    record,
                    Outcome.INTERRUPTED,
                    f"{self.stop_reason} while following it ({detail}); a rerun follows or "
                    "adopts it",
                )
            elif self.stop_reason is not None:
                self._finish(record, Outcome.NOT_STARTED, f"{self.stop_reason} before it was sent")
            else:
                self._finish(record, Outcome.NOT_STARTED, record.reason)

    # ---- per project -------------------------------------------------------------------

    async def _run_project(
        self, project: ProjectPlan, records: list[ClusterRecord], rank: int
    ) -> None:
        """List the project, then create and follow its clusters; ``rank`` is its place in
        the manifest, which orders the projects' claims on the batch's in-flight slots."""
        plog = self._log.bind(project=project.id, endpoint=project.rate_key)
        watch = self._watch_of(project)
        try:
            await watch.relist(since=-1)
        except (ApiError, DeadlineExceeded) as error:
            if isinstance(error, AuthenticationError):
                self.rejected_projects.add(self._key(project))
            text = str(error) if isinstance(error, ApiError) else "no call slot in time"
            plog.error("project.list_failed", error=text)
            for record in records:
                record.last_error = error if isinstance(error, ApiError) else None
                record.reason = f"could not list the project's clusters: {text}"
            return
        plog.info("project.listed", existing=len(watch.by_name), clusters=len(records))

        slots = OrderedSlots(self.settings.max_in_flight_per_project)
        held = 0  # the batch's in-flight slots taken for clusters not started yet
        async with asyncio.TaskGroup() as watching:
            watching.create_task(watch.run())
            try:
                async with asyncio.TaskGroup() as group:
                    for index, record in enumerate(records):
                        found = watch.by_name.get(record.name)
                        if found is not None:
                            self._adopt(record, found, preexisting=True)
                            if cluster_phase_settled(found.status.phase):
                                self._settle(record, found)
                                continue
                        await slots.acquire()
                        if held == 0:
                            # As many as the project may start now (its own slots allow
                            # no more), so that slots freed together stay together; the
                            # ones not used (clusters found ready) go back after the loop.
                            want = min(len(records) - index, 1 + slots.free)
                            held = await self._in_flight.acquire(rank, want)
                        held -= 1
                        group.create_task(self._drive(project, record, slots))
                    # Taken for clusters that turned out to exist already: free them now,
                    # not once this project's last cluster is done.
                    self._in_flight.release(held)
                    held = 0
            finally:
                if held:
                    self._in_flight.release(held)
                watch.close()

    @staticmethod
    def _key(project: ProjectPlan) -> str:
        return project.rate_key + "/" + project.id

    def _watch_of(self, project: ProjectPlan) -> ProjectWatch:
        key = self._key(project)
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = ProjectWatch(
                project,
                self.client,
                self.clock,
                self.completions,
                self._backoff,
                slots_short=self._in_flight.short,
            )
        return watch

    async def _look_up(
        self, project: ProjectPlan, record: ClusterRecord, *, tries: int = 1
    ) -> tuple[bool, Cluster | None]:
        """(whether the project could be listed, the cluster named like ``record``), from a
        list requested after now; up to ``tries`` lists, spaced out, until it shows up."""
        return await self._watch_of(project).look_up(record.name, record, tries=tries)

    # ---- per cluster -------------------------------------------------------------------

    async def _drive(
        self, project: ProjectPlan, record: ClusterRecord, slots: OrderedSlots
    ) -> None:
        """Create or follow one cluster, holding its in-flight slots until it is terminal."""
        try:
            if record.preexisting:
                await self._follow(project, record, fresh=False)
            else:
                await self._create(project, record)
        except DeadlineExceeded:
            if not record.done:
                self._time_out(record)
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
            job_id=record.job_id,
            cluster_id=record.cluster_id,
            job_phase=record.job_phase,
            cluster_phase=record.cluster_phase,
            reason=record.reason,
        )
        self._changed(record)

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

    def _deadline(self, record: ClusterRecord) -> float | None:
        """The cluster's deadline: ``timeout`` after its create was first sent."""
        return record.submitted.mono + self.settings.timeout if record.submitted else None

    async def _create(self, project: ProjectPlan, record: ClusterRecord) -> None:
        clog = self._log.bind(project=project.id, cluster=record.name)
        # True once a send's outcome is unknown: a later 409 is then our own lost create.
        maybe_created = False
        # True when the create's own answer came back: its job started then.
        answered = False
        # Sends that failed without an answer or with a 5xx: they count against
        # ``retry.attempts``; sends refused with a 429 do not (record.attempts counts all).
        failures = 0

        def count_attempt() -> None:
            # Submission is when the body is first sent, not when it began to queue for a slot.
            if record.submitted is None:
                record.submitted = self.now()
                clog.debug("cluster.submitted")
                self._changed(record)
            record.attempts += 1

        while True:
            if self._key(project) in self.rejected_projects:
                # A rejected credential is not retried in a loop: the gateway locks keys after
                # five failures. Nothing more is sent for a project once one call was refused.
                self._finish(record, Outcome.NOT_STARTED, "not sent: the credentials were rejected")
                return
            try:
                cluster = await self.client.create_cluster(
                    project, record.plan.wire, count_attempt, deadline=self._deadline(record)
                )
            except ConflictError as error:
                record.last_error = error
                listed, found = await self._look_up(project, record, tries=CONFLICT_LOOKUPS)
                if found is None:
                    self._finish(
                        record,
                        Outcome.FAILED,
                        f"the service says the name is taken ({error.error_code}: "
                        f"{error.message}) but "
                        + (
                            "no cluster of that name is in the project's list; another "
                            "cluster may use it as its alias"
                            if listed
                            else "the project could not be listed to find it"
                        ),
                    )
                    return
                clog.info("cluster.exists", cluster_id=found.metadata.uid, own=maybe_created)
                self._adopt(record, found, preexisting=not maybe_created)
                if cluster_phase_settled(found.status.phase):
                    self._settle(record, found)
                    return
                if maybe_created:
                    break
                await self._follow(project, record, fresh=False)
                return
            except (ServerError, TransportError) as error:
                # The create may or may not have happened: look before sending it again.
                maybe_created = True
                record.last_error = error
                listed, found = await self._look_up(project, record)
                if found is not None:
                    clog.info("cluster.adopted", cluster_id=found.metadata.uid)
                    self._adopt(record, found, preexisting=False)
                    break
                if not listed:
                    self._finish(
                        record,
                        Outcome.FAILED,
                        f"create failed ({error}) and the project could not be listed to "
                        "learn whether it happened; a rerun adopts it if it did",
                    )
                    return
                failures += error.attempts or 1
                if not await self._pause_before_resend(record, error, failures):
                    self._finish(
                        record,
                        Outcome.FAILED,
                        f"create failed {failures} times, last: {error}; the cluster "
                        "is not in the project's list",
                    )
                    return
                clog.info("cluster.resending", attempts=record.attempts, failures=failures)
                continue
            except ThrottledError as error:  # only when throttled until the deadline
                record.last_error = error
                self._finish(record, Outcome.NOT_STARTED, f"throttled throughout: {error}")
                return
            except DeadlineExceeded:
                if maybe_created:
                    self._finish(
                        record,
                        Outcome.FAILED,
                        "its create's outcome is still unknown at the deadline; a rerun adopts "
                        "it if it was created",
                    )
                elif record.submitted is None:
                    self._finish(record, Outcome.NOT_STARTED, "no call slot before its deadline")
                else:
                    self._finish(
                        record, Outcome.NOT_STARTED, "throttled until its deadline; never accepted"
                    )
                return
            except ApiError as error:
                if isinstance(error, AuthenticationError):
                    self.rejected_projects.add(self._key(project))
                record.last_error = error
                self._finish(
                    record, Outcome.REJECTED, f"{error.error_code or error.code}: {error.message}"
                )
                return
            else:
                self._adopt(record, cluster, preexisting=False)
                answered = True
                break
        record.accepted = self.now()
        clog.info("cluster.accepted", cluster_id=record.cluster_id, job_id=record.job_id)
        self._changed(record)
        await self._follow(project, record, fresh=True, timed=answered)

    async def _pause_before_resend(
        self, record: ClusterRecord, error: ApiError, failures: int
    ) -> bool:
        """Wait before sending a create again after ``failures`` failed sends; False when
        the budget (``retry.attempts``) or the deadline is spent."""
        if failures >= self.settings.retry.attempts:
            return False
        deadline = self._deadline(record)
        delay = self._backoff.delay(failures, error)
        if deadline is not None and self.clock.monotonic() + delay >= deadline:
            return False
        await self.clock.sleep(delay)
        return True

    async def _follow(
        self, project: ProjectPlan, record: ClusterRecord, *, fresh: bool, timed: bool = False
    ) -> None:
        """Watch a cluster to a terminal phase or its deadline: through the project's list
        until the cluster is settled, then its job, which must have ended too.

        ``fresh``: this run created it (its deadline runs from the first send); ``timed``:
        its job started at its acceptance, so its end teaches the completion model.
        """
        start = record.submitted if fresh and record.submitted else self.now()
        deadline = start.mono + self.settings.timeout
        if fresh and record.accepted:
            since = record.accepted.mono
        else:
            # Found running, of unknown age: watched as a job that may end at any moment.
            since = self.clock.monotonic() - self.completions.earliest()
        cluster = await self._await_settled(project, record, since, deadline, timed=timed)
        if cluster is not None:
            await self._conclude(project, record, cluster, deadline)

    async def _await_settled(
        self,
        project: ProjectPlan,
        record: ClusterRecord,
        since: float,
        deadline: float,
        *,
        timed: bool,
    ) -> Cluster | None:
        """The cluster, once a list shows it settled; None when the record was finished
        meanwhile (its job failed, its deadline passed, its project's lists were refused).

        While it waits, the job's own phase is read now and then (``job_check_age``): the
        lists cannot tell of a job that failed while its cluster never settled.
        """
        watch = self._watch_of(project)
        settled = watch.watch(record, since, timed=timed)
        checks = 0
        try:
            while True:
                now = self.clock.monotonic()
                check_at = since + self._check_age(checks) if record.job_id else math.inf
                await self._wait_for(settled, min(check_at, deadline) - now)
                if settled.done():
                    return self._settled_cluster(record, settled)
                if self.clock.monotonic() >= deadline:
                    return await self._last_look(watch, record, settled, deadline)
                due = since + self._check_age(checks)
                if self.clock.monotonic() < due:
                    continue  # learned meanwhile that jobs take longer: not due yet
                if watch.last_list_seen < due:
                    # No list has looked since: the lists are held back by a tight budget,
                    # not blind to this cluster. Wait for one rather than spend a call.
                    await self._wait_for(settled, self.settings.poll.interval)
                    continue
                checks += 1
                if not await self._check_job(project, record, deadline):
                    return None
        finally:
            watch.unwatch(record)

    def _check_age(self, checks: int) -> float:
        return job_check_age(self.completions, checks, self.settings.timeout)

    async def _wait_for(self, future: asyncio.Future[Cluster | None], delay: float) -> None:
        """Wait until ``future`` is done or ``delay`` has passed on the runner's clock."""
        if future.done():
            return
        if delay <= 0:
            await asyncio.sleep(0)
            return
        # The timer is the one future waited on; ``future`` ends it early. (No
        # ``asyncio.wait``: its waiter and callbacks cost more than the wait itself.)
        timer = self.clock.timer(delay)

        def cut_short(_: object) -> None:
            ring(timer)

        future.add_done_callback(cut_short)
        try:
            await timer
        finally:
            future.remove_done_callback(cut_short)
            timer.cancel()

    def _settled_cluster(
        self, record: ClusterRecord, settled: asyncio.Future[Cluster | None]
    ) -> Cluster | None:
        error = settled.exception()
        if error is None:
            cluster = settled.result()
            if cluster is None:
                self._finish(
                    record,
                    Outcome.FAILED,
                    "the cluster no longer exists: it left the project's list",
                )
            return cluster
        if isinstance(error, ApiError):
            record.last_error = error
        self._finish(record, Outcome.FAILED, f"stopped following the cluster: {error}")
        return None

    async def _last_look(
        self,
        watch: ProjectWatch,
        record: ClusterRecord,
        settled: asyncio.Future[Cluster | None],
        deadline: float,
    ) -> Cluster | None:
        """At the deadline: one more list (shared), then the cluster or its time-out."""
        try:
            await watch.relist(
                tick(), priority=Priority.POLL, deadline=self._call_deadline(deadline)
            )
        except (ApiError, DeadlineExceeded) as error:
            if isinstance(error, ApiError):
                record.last_error = error
        if settled.done():
            return self._settled_cluster(record, settled)
        self._time_out(record)
        return None

    async def _check_job(
        self, project: ProjectPlan, record: ClusterRecord, deadline: float
    ) -> bool:
        """Read the job of a cluster the lists still show unfinished; False when it failed
        (the record is finished)."""
        assert record.job_id is not None
        record.polls += 1
        try:
            job = await self.client.show_job(
                project, record.job_id, deadline=self._call_deadline(deadline)
            )
        except NotFoundError as error:
            record.last_error = error  # expired: the lists tell the rest
            return True
        except _GIVE_UP as error:
            record.last_error = error
            self._finish(record, Outcome.FAILED, f"stopped following the job: {error}")
            return False
        except ApiError as error:
            record.last_error = error
            return True
        self._note_job(project, record, job.status.phase, job.spec.cluster_uid)
        if job.status.phase == JobPhase.FAILED:
            reason = job.failure_reason() or "the creation job failed without a reason"
            self._finish(record, Outcome.FAILED, reason)
            return False
        return True

    def _note_job(
        self,
        project: ProjectPlan,
        record: ClusterRecord,
        phase: str | None,
        cluster_uid: str | None,
    ) -> None:
        record.job_phase = phase
        record.cluster_id = record.cluster_id or cluster_uid
        self._log.debug(
            "job.polled",
            project=project.id,
            cluster=record.name,
            job_id=record.job_id,
            phase=phase,
        )

    async def _conclude(
        self, project: ProjectPlan, record: ClusterRecord, cluster: Cluster, deadline: float
    ) -> None:
        """A list shows the cluster settled. ``Available`` is the end of a creation: no
        more calls. A broken phase is a failure; its job, when it can still be read, says
        why better than the cluster does."""
        if cluster.status.phase in CLUSTER_READY or record.job_id is None:
            self._settle(record, cluster)
            return
        if record.job_phase not in JOB_TERMINAL:
            record.polls += 1
            try:
                job = await self.client.show_job(
                    project, record.job_id, deadline=self._call_deadline(deadline)
                )
            except (ApiError, DeadlineExceeded) as error:
                if isinstance(error, ApiError):
                    record.last_error = error
            else:
                self._note_job(project, record, job.status.phase, job.spec.cluster_uid)
                if job.status.phase == JobPhase.FAILED and job.failure_reason():
                    record.cluster_phase = cluster.status.phase
                    self._finish(record, Outcome.FAILED, job.failure_reason())
                    return
        self._settle(record, cluster)

    def _call_deadline(self, deadline: float) -> float:
        """A poll at the deadline may still queue for one interval before the cluster times
        out, so the last look is not lost to a busy limiter."""
        return deadline + self.settings.poll.interval

    def _time_out(self, record: ClusterRecord) -> None:
        phase = record.cluster_phase or record.job_phase
        self._finish(
            record,
            Outcome.TIMED_OUT,
            f"still {phase or 'in an unknown phase'} "
            f"after {format_duration(self.settings.timeout)}",
        )


def exit_code_for(records: Iterable[ClusterRecord], *, auth_rejected: bool) -> int:
    """0 when every cluster is created or existing; 3 when credentials were rejected before
    anything was created; 1 otherwise."""
    records = list(records)
    if all(r.outcome in (Outcome.CREATED, Outcome.EXISTING) for r in records):
        return 0
    if auth_rejected and not any(r.accepted for r in records):
        return 3
    return 1
