"""The CCE v3 client: the four calls a batch needs, each through the endpoint's rate limit.

The client composes the pure request builders and decoders of ``batchcreate.wire`` with an
injected transport, authenticator, clock and limiters. Reads are retried when their
failure is transient; a create is retried only when the answer proves it was not
processed (flow control), because re-sending a create whose fate is unknown could
create a cluster twice.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import structlog
from pydantic import BaseModel

from batchcreate.auth import Authenticator
from batchcreate.clock import Clock
from batchcreate.errors import ApiError, ThrottledError
from batchcreate.models import Cluster, ClusterList, Job
from batchcreate.ratelimit import RateLimiter
from batchcreate.retry import Backoff
from batchcreate.transport import Transport
from batchcreate.wire import (
    Request,
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


def _only_throttling(error: ApiError) -> bool:
    return isinstance(error, ThrottledError)


def _any_transient(error: ApiError) -> bool:
    return error.retryable


class CceClient:
    """Create, show job, show cluster and list clusters against any number of endpoints."""

    def __init__(
        self,
        transport: Transport,
        auth: Authenticator,
        limiter_for: Callable[[str], RateLimiter],
        clock: Clock,
        backoff: Backoff | None = None,
        stats: CallStats | None = None,
    ) -> None:
        self._transport = transport
        self._auth = auth
        self._limiter_for = limiter_for
        self._clock = clock
        self._backoff = backoff or Backoff()
        self.stats = stats or CallStats()

    async def create_cluster(
        self,
        project: ProjectRef,
        body: dict[str, Any],
        on_attempt: Callable[[], None] | None = None,
    ) -> Cluster:
        """POST the create body; the answer carries ``status.jobID`` and ``metadata.uid``.

        ``on_attempt`` is called each time the body is sent, so callers can count sends.
        """
        request = create_cluster_request(project.endpoint, project.id, body)
        return await self._call(project, request, Cluster, (200, 201), _only_throttling, on_attempt)

    async def show_job(self, project: ProjectRef, job_id: str) -> Job:
        request = show_job_request(project.endpoint, project.id, job_id)
        return await self._call(project, request, Job, (200,), _any_transient)

    async def show_cluster(self, project: ProjectRef, cluster_id: str) -> Cluster:
        request = show_cluster_request(project.endpoint, project.id, cluster_id)
        return await self._call(project, request, Cluster, (200,), _any_transient)

    async def list_clusters(self, project: ProjectRef) -> list[Cluster]:
        """Every cluster of the project: the API has no name filter and no pagination."""
        request = list_clusters_request(project.endpoint, project.id)
        listing = await self._call(project, request, ClusterList, (200,), _any_transient)
        return listing.items

    async def _call(
        self,
        project: ProjectRef,
        request: Request,
        model: type[M],
        expect: tuple[int, ...],
        may_retry: Callable[[ApiError], bool],
        on_attempt: Callable[[], None] | None = None,
    ) -> M:
        limiter = self._limiter_for(project.rate_key)
        attempt = 0
        while True:
            attempt += 1
            await limiter.acquire()
            signed = await self._auth.authenticate(request, project.id)
            if on_attempt is not None:
                on_attempt()
            try:
                response = await self._transport.send(signed)
                result = decode(response, model, expect=expect)
            except ApiError as error:
                error.attempts = attempt
                self.stats.record(request.kind, error.code)
                if not (may_retry(error) and self._backoff.should_retry(attempt, error)):
                    raise
                delay = self._backoff.delay(attempt, error)
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
                await self._clock.sleep(delay)
                continue
            self.stats.record(request.kind, str(response.status))
            return result
