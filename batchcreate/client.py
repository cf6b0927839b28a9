"""The CCE v3 client: the four calls a batch needs, each through the endpoint's rate limit.

The client composes the pure request builders and decoders of ``batchcreate.wire`` with an
injected transport, authenticator, clock and limiters. Reads are retried when their
failure is transient; a create is retried only when the answer proves it was not
processed (flow control), because re-sending a create whose fate is unknown could
create a cluster twice.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import structlog
from pydantic import BaseModel

from batchcreate.auth import Authenticator
from batchcreate.clock import Clock
from batchcreate.errors import ApiError, AuthenticationError, ThrottledError
from batchcreate.models import Cluster, ClusterList, Job
from batchcreate.onwire import ON_WIRE
from batchcreate.ratelimit import Priority, RateLimiter
from batchcreate.retry import Backoff
from batchcreate.transport import Transport
from batchcreate.wire import (
    Request,
    Response,
    create_cluster_request,
    decode,
    list_clusters_request,
    show_cluster_request,
    show_job_request,
)

M = TypeVar("M", bound=BaseModel)
log = structlog.get_logger("batchcreate.client")


class ProjectRef(Protocol):
    """Where a project's calls go, and whose rate limit they spend."""

    @property
    def id(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def rate_key(self) -> str: ...


class CallStats:
    """Counts of calls by kind and outcome, for the report."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
        self.retries: collections.Counter[str] = collections.Counter()

    def record(self, kind: str, outcome: str) -> None:
        self.calls[kind] += 1
        self.outcomes[(kind, outcome)] += 1

    def to_report(self) -> dict[str, object]:
        return {
            "total": sum(self.calls.values()),
            "byKind": dict(sorted(self.calls.items())),
            "byOutcome": {f"{k}:{o}": n for (k, o), n in sorted(self.outcomes.items())},
            "retries": dict(sorted(self.retries.items())),
        }


class _Once:
    """Calls ``action`` the first time it is called, and never again."""

    __slots__ = ("_action",)

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action

    def __call__(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()


class CceClient:
    """Create, show job, show cluster and list clusters against any number of endpoints.

    Every call waits for its endpoint's limiter (with a priority: lists, then creates, then
    polls) and ends by its deadline: ``deadline`` when given, else ``call_budget`` seconds
    after it began. A 429 pauses and slows the whole endpoint through the limiter and is
    retried until the deadline (a throttled call was not processed, so even a create is
    safe to resend). Other transient failures of reads are retried with backoff within
    ``RetrySettings.attempts``; a create whose outcome is unknown is never resent here.
    A 401 is retried once, only if the credentials could be refreshed.
    """

    def __init__(
        self,
        transport: Transport,
        auth: Authenticator,
        limiter_for: Callable[[str], RateLimiter],
        clock: Clock,
        backoff: Backoff | None = None,
        stats: CallStats | None = None,
        *,
        call_budget: float = 1800.0,
    ) -> None:
        self._transport = transport
        self._auth = auth
        self._limiter_for = limiter_for
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._call_budget = call_budget
        self.stats = stats or CallStats()

    async def create_cluster(
        self,
        project: ProjectRef,
        body: Mapping[str, Any] | bytes,
        on_attempt: Callable[[], None] | None = None,
        *,
        deadline: float | None = None,
    ) -> Cluster:
        """POST the create body; the answer carries ``status.jobID`` and ``metadata.uid``.

        ``on_attempt`` is called each time the body is sent, so callers can count sends.
        """
        request = create_cluster_request(project.endpoint, project.id, body)
        return await self._call(
            project,
            request,
            Cluster,
            (200, 201),
            Priority.CREATE,
            deadline,
            retry_transient=False,
            on_attempt=on_attempt,
        )

    async def show_job(
        self, project: ProjectRef, job_id: str, *, deadline: float | None = None
    ) -> Job:
        request = show_job_request(project.endpoint, project.id, job_id)
        return await self._call(project, request, Job, (200,), Priority.POLL, deadline)

    async def show_cluster(
        self, project: ProjectRef, cluster_id: str, *, deadline: float | None = None
    ) -> Cluster:
        request = show_cluster_request(project.endpoint, project.id, cluster_id)
        return await self._call(project, request, Cluster, (200,), Priority.POLL, deadline)

    async def list_clusters(
        self,
        project: ProjectRef,
        *,
        priority: Priority = Priority.LIST,
        deadline: float | None = None,
    ) -> list[Cluster]:
        """Every cluster of the project: the API has no name filter and no pagination.

        A list that looks up names before creates goes first (``Priority.LIST``); one that
        observes running jobs is a poll (``Priority.POLL``)."""
        request = list_clusters_request(project.endpoint, project.id)
        listing = await self._call(project, request, ClusterList, (200,), priority, deadline)
        return listing.items

    async def _call(
        self,
        project: ProjectRef,
        request: Request,
        model: type[M],
        expect: tuple[int, ...],
        priority: Priority,
        deadline: float | None,
        *,
        retry_transient: bool = True,
        on_attempt: Callable[[], None] | None = None,
    ) -> M:
        limiter = self._limiter_for(project.rate_key)
        budget_end = self._clock.monotonic() + self._call_budget
        deadline = budget_end if deadline is None else min(deadline, budget_end)
        attempt = 0  # sends that count against the retry budget (429s do not)
        refreshed = False
        while True:
            await limiter.admit(priority, deadline)
            sent_at = self._clock.monotonic()
            attempt += 1
            try:
                # Inside the try: fetching an IAM token can fail like any call.
                response = await self._send(request, project, limiter, on_attempt)
                result = decode(response, model, expect=expect)
            except ApiError as error:
                error.attempts = attempt
                self.stats.record(request.kind, error.code)
                if isinstance(error, ThrottledError):
                    limiter.throttled(error.retry_after, sent_at)
                    log.info(
                        "endpoint.throttled",
                        endpoint=project.rate_key,
                        kind=request.kind,
                        retry_after=error.retry_after,
                        error_code=error.error_code,
                        rate=round(limiter.rate, 3),
                        request_id=error.request_id,
                    )
                    attempt -= 1
                    self._note_retry(request, project, attempt, 0.0, error)
                    continue  # the limiter holds the call back until the endpoint may resume
                if isinstance(error, AuthenticationError):
                    if refreshed or not await self._auth.refresh(project.id):
                        raise
                    refreshed = True
                    self._note_retry(request, project, attempt, 0.0, error)
                    continue
                if not (
                    retry_transient
                    and error.retryable
                    and self._backoff.should_retry(attempt, error)
                ):
                    raise
                delay = self._backoff.delay(attempt, error)
                remaining = deadline - self._clock.monotonic()
                if delay >= remaining:
                    raise
                self._note_retry(request, project, attempt, delay, error)
                await self._clock.sleep(delay)
                continue
            limiter.succeeded()
            self.stats.record(request.kind, str(response.status))
            return result

    async def _send(
        self,
        request: Request,
        project: ProjectRef,
        limiter: RateLimiter,
        on_attempt: Callable[[], None] | None,
    ) -> Response:
        """Sign and send one admitted attempt, telling ``limiter`` when it goes on the wire:
        when the transport marks it, else once it is over (or failed before going out)."""
        on_wire = _Once(limiter.on_wire)
        try:
            signed = await self._auth.authenticate(request, project.id)
            if on_attempt is not None:
                on_attempt()
            marking = ON_WIRE.set(on_wire)
            try:
                return await self._transport.send(signed)
            finally:
                ON_WIRE.reset(marking)
        finally:
            on_wire()

    def _note_retry(
        self, request: Request, project: ProjectRef, attempt: int, delay: float, error: ApiError
    ) -> None:
        self.stats.retries[request.kind] += 1
        log.info(
            "call.retrying",
            kind=request.kind,
            project=project.id,
            attempt=attempt,
            delay=round(delay, 3),
            error=error.code,
            http_status=error.http_status,
            error_code=error.error_code,
            request_id=error.request_id,
        )
