"""CceClient over a real aiohttp session, with aioresponses standing in for the service.

Backoff sleeps run on a ``VirtualClock`` (aioresponses does no real I/O), so every delay is
asserted exactly and costs no wall-clock time.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import types
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aioresponses.core
import pytest
from aiohttp import web
from aioresponses import aioresponses as AioResponses
from yarl import URL

from batchcreate.auth import TokenAuth
from batchcreate.client import CallStats, CceClient
from batchcreate.clock import SystemClock, VirtualClock
from batchcreate.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    RequestRejectedError,
    ServerError,
    TransportError,
)
from batchcreate.onwire import mark_on_wire
from batchcreate.ratelimit import AdaptiveLimiter, DeadlineExceeded
from batchcreate.retry import Backoff
from batchcreate.settings import RetrySettings
from batchcreate.transport import AiohttpTransport, EnvProxies
from batchcreate.wire import Request, Response

ENDPOINT = "https://cce.cn-north-4.myhuaweicloud.com"
TOKEN = "tok-123"
PROJECT_ID = "proj123"
BASE = f"{ENDPOINT}/api/v3/projects/{PROJECT_ID}"
CLUSTERS_URL = f"{BASE}/clusters"
JOB_URL = f"{BASE}/jobs/job-1"
CLUSTER_URL = f"{BASE}/clusters/c-1"
SETTINGS = RetrySettings(attempts=3, base_delay=0.5, max_delay=30.0)

CREATE_BODY: dict[str, Any] = {
    "kind": "Cluster",
    "apiVersion": "v3",
    "metadata": {"name": "alpha-one"},
    "spec": {
        "type": "VirtualMachine",
        "flavor": "cce.s1.small",
        "hostNetwork": {"vpc": "vpc-1", "subnet": "subnet-1"},
        "containerNetwork": {"mode": "overlay_l2"},
    },
}
CREATED: dict[str, Any] = {
    "kind": "Cluster",
    "apiVersion": "v3",
    "metadata": {"name": "alpha-one", "uid": "c-1"},
    "spec": CREATE_BODY["spec"],
    "status": {"phase": "Creating", "jobID": "job-1"},
}
JOB: dict[str, Any] = {
    "kind": "Job",
    "apiVersion": "v3",
    "metadata": {"uid": "job-1"},
    "spec": {"type": "CreateCluster", "clusterUID": "c-1", "resourceName": "alpha-one"},
    "status": {"phase": "Running", "reason": ""},
}
CLUSTER: dict[str, Any] = {
    "kind": "Cluster",
    "apiVersion": "v3",
    "metadata": {"name": "alpha-one", "uid": "c-1"},
    "status": {"phase": "Available"},
}
LISTING: dict[str, Any] = {
    "kind": "Cluster",
    "apiVersion": "v3",
    "items": [CLUSTER, {"metadata": {"name": "beta-two", "uid": "c-2"}}],
}
THROTTLED = {"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached"}
SERVER_ERROR = {"errorCode": "CCE.01500001", "errorMessage": "Internal server error."}


@dataclass(frozen=True)
class Project:
    """The test's ProjectRef: where calls go and whose limit they spend."""

    id: str = PROJECT_ID
    endpoint: str = ENDPOINT
    rate_key: str = "cn-north-4/acct-1"


PROJECT = Project()


class _Limiter:
    """A limiter that admits at once and records every acquisition in a shared event log."""

    def __init__(self, key: str, events: list[str]) -> None:
        self.key = key
        self._events = events
        self.priorities: list[int] = []

    @property
    def rate(self) -> float:
        return 1.0

    async def admit(self, priority: int = 2, deadline: float | None = None) -> None:
        self._events.append(f"acquire:{self.key}")
        self.priorities.append(priority)

    def on_wire(self) -> None:
        self._events.append(f"on_wire:{self.key}")

    def throttled(self, retry_after: float | None, sent_at: float | None = None) -> None:
        self._events.append(f"throttled:{self.key}:{retry_after}")

    def succeeded(self) -> None:
        self._events.append(f"succeeded:{self.key}")


@dataclass
class RecordingLimiters:
    """A ``limiter_for`` callable that remembers which keys were asked for and acquired."""

    events: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def __call__(self, key: str) -> _Limiter:
        self.asked.append(key)
        return _Limiter(key, self.events)

    @property
    def acquired(self) -> Counter[str]:
        return Counter(e.removeprefix("acquire:") for e in self.events if e.startswith("acquire:"))


class _Aiohttp314Response(aiohttp.ClientResponse):
    """aioresponses 0.7.x builds responses without aiohttp 3.14's ``stream_writer``."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", types.SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture(autouse=True)
def _aioresponses_compat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let aioresponses build responses on aiohttp versions that need a stream writer."""
    if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        monkeypatch.setattr(aioresponses.core, "ClientResponse", _Aiohttp314Response)


@pytest.fixture
def api() -> Iterator[AioResponses]:
    """Every aiohttp request is answered by registered mocks; none reaches a network."""
    with AioResponses() as mocked:
        yield mocked


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A real aiohttp session, closed after the test."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def clock() -> VirtualClock:
    """Virtual time starting at zero."""
    return VirtualClock()


@pytest.fixture
def paced(session: aiohttp.ClientSession, clock: VirtualClock) -> tuple[CceClient, AdaptiveLimiter]:
    """A client whose endpoint has a real adaptive limiter (4 calls/s) and a 60 s budget."""
    limiter = AdaptiveLimiter(4.0, clock)
    client = CceClient(
        AiohttpTransport(session),
        TokenAuth(TOKEN),
        lambda key: limiter,
        clock,
        Backoff(SETTINGS, rng=random.Random(0)),
        call_budget=60.0,
    )
    return client, limiter


@pytest.fixture
def limiters() -> RecordingLimiters:
    """The recording limiter factory."""
    return RecordingLimiters()


@pytest.fixture
def client(
    session: aiohttp.ClientSession, clock: VirtualClock, limiters: RecordingLimiters
) -> CceClient:
    """The client under test: token auth, recording limiters, seeded backoff, virtual clock."""
    return CceClient(
        AiohttpTransport(session),
        TokenAuth(TOKEN),
        limiters,
        clock,
        Backoff(SETTINGS, rng=random.Random(0)),
    )


def _sends(api: AioResponses, method: str, url: str) -> list[Any]:
    """Every request the client sent to ``method url``."""
    return list(api.requests.get((method, URL(url)), []))


def _total_sends(api: AioResponses) -> int:
    return sum(len(calls) for calls in api.requests.values())


def _jitter(settings: RetrySettings, failures: int) -> float:
    """The virtual time a seeded Backoff sleeps after ``failures`` failed attempts."""
    rng = random.Random(0)
    elapsed = 0.0
    for attempt in range(1, failures + 1):
        ceiling = min(settings.max_delay, settings.base_delay * 2 ** (attempt - 1))
        elapsed = elapsed + rng.uniform(0, ceiling)
    return elapsed


# ---- create ------------------------------------------------------------------------------


async def test_create_returns_cluster_with_job_id_and_uid(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """A 201 answer gives the Cluster whose status.jobID and metadata.uid are set."""
    api.post(CLUSTERS_URL, status=201, payload=CREATED)

    cluster = await clock.run(client.create_cluster(PROJECT, CREATE_BODY))

    assert cluster.status.job_id == "job-1"
    assert cluster.metadata.uid == "c-1"
    assert cluster.metadata.name == "alpha-one"
    assert clock.monotonic() == 0.0


async def test_create_sends_the_body_and_the_token(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """The POST carries the JSON body, its content type and the X-Auth-Token header."""
    api.post(CLUSTERS_URL, status=201, payload=CREATED)

    await clock.run(client.create_cluster(PROJECT, CREATE_BODY))

    [sent] = _sends(api, "POST", CLUSTERS_URL)
    assert sent.kwargs["headers"] == {"Content-Type": "application/json", "X-Auth-Token": TOKEN}
    assert json.loads(sent.kwargs["data"]) == CREATE_BODY
    assert sent.kwargs["allow_redirects"] is False


async def test_create_throttled_is_retried_then_succeeds(
    client: CceClient, api: AioResponses, clock: VirtualClock, limiters: RecordingLimiters
) -> None:
    """A 429 proves the create was not processed, so it is sent again; on_attempt counts both."""
    api.post(CLUSTERS_URL, status=429, payload=THROTTLED)
    api.post(CLUSTERS_URL, status=201, payload=CREATED)
    attempts: list[int] = []

    cluster = await clock.run(
        client.create_cluster(PROJECT, CREATE_BODY, on_attempt=lambda: attempts.append(1))
    )

    assert cluster.status.job_id == "job-1"
    assert len(attempts) == 2
    assert len(_sends(api, "POST", CLUSTERS_URL)) == 2
    assert clock.monotonic() == 0.0  # the pause is the limiter's to impose, not the client's
    assert f"throttled:{PROJECT.rate_key}:None" in limiters.events
    assert limiters.acquired == Counter({PROJECT.rate_key: 2})
    assert client.stats.retries == Counter({"create": 1})


async def test_create_throttling_code_under_403_is_retried(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """APIGW.0308 under a 403 is flow control too, so the create is sent again."""
    api.post(CLUSTERS_URL, status=403, payload=THROTTLED)
    api.post(CLUSTERS_URL, status=201, payload=CREATED)

    cluster = await clock.run(client.create_cluster(PROJECT, CREATE_BODY))

    assert cluster.metadata.uid == "c-1"
    assert len(_sends(api, "POST", CLUSTERS_URL)) == 2


async def test_create_throttled_every_time_gives_up_at_its_deadline(
    paced: tuple[CceClient, AdaptiveLimiter], api: AioResponses, clock: VirtualClock
) -> None:
    """Throttled without Retry-After, the endpoint pauses 2, 4, 8, 16 slots...; at the call's
    deadline the create gives up with DeadlineExceeded, never having been processed."""
    client, limiter = paced
    api.post(CLUSTERS_URL, status=429, payload=THROTTLED, repeat=True)
    attempts: list[int] = []

    with pytest.raises(DeadlineExceeded):
        await clock.run(
            client.create_cluster(
                PROJECT, CREATE_BODY, on_attempt=lambda: attempts.append(1), deadline=10.0
            )
        )

    assert len(attempts) == 5  # sent at 0, 0.5, 1.5, 3.5 and 7.5 s; the next would be 15.5
    assert len(_sends(api, "POST", CLUSTERS_URL)) == 5
    assert clock.monotonic() == 10.0
    assert limiter.throttle_events == 5


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_create_server_error_is_not_resent(
    client: CceClient, api: AioResponses, clock: VirtualClock, status: int
) -> None:
    """A 5xx leaves the create's fate unknown, so it is never re-sent: one attempt, ServerError."""
    api.post(CLUSTERS_URL, status=status, payload=SERVER_ERROR, headers={"X-Request-Id": "r-1"})
    api.post(CLUSTERS_URL, status=201, payload=CREATED)
    attempts: list[int] = []

    with pytest.raises(ServerError) as caught:
        await clock.run(
            client.create_cluster(PROJECT, CREATE_BODY, on_attempt=lambda: attempts.append(1))
        )

    error = caught.value
    assert error.attempts == 1
    assert error.http_status == status
    assert error.error_code == "CCE.01500001"
    assert error.request_id == "r-1"
    assert len(attempts) == 1
    assert len(_sends(api, "POST", CLUSTERS_URL)) == 1
    assert clock.monotonic() == 0.0
    assert client.stats.retries == Counter()


@pytest.mark.parametrize(
    "exception",
    [aiohttp.ClientConnectionError("connection reset by peer"), TimeoutError()],
    ids=["connection-error", "timeout"],
)
async def test_create_without_an_answer_is_not_resent(
    client: CceClient, api: AioResponses, clock: VirtualClock, exception: Exception
) -> None:
    """A create that got no answer raises TransportError and is not sent a second time."""
    api.post(CLUSTERS_URL, exception=exception)
    api.post(CLUSTERS_URL, status=201, payload=CREATED)
    attempts: list[int] = []

    with pytest.raises(TransportError) as caught:
        await clock.run(
            client.create_cluster(PROJECT, CREATE_BODY, on_attempt=lambda: attempts.append(1))
        )

    assert caught.value.attempts == 1
    assert caught.value.http_status is None
    assert caught.value.message.startswith(f"POST {CLUSTERS_URL}: ")
    assert len(attempts) == 1
    assert len(_sends(api, "POST", CLUSTERS_URL)) == 1


async def test_create_success_with_unreadable_body_is_not_resent(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """A 201 whose body is garbage means the cluster may exist: TransportError, one send."""
    api.post(CLUSTERS_URL, status=201, body=b"<html>ok</html>", content_type="text/html")
    api.post(CLUSTERS_URL, status=201, payload=CREATED)

    with pytest.raises(TransportError) as caught:
        await clock.run(client.create_cluster(PROJECT, CREATE_BODY))

    assert caught.value.http_status == 201
    assert caught.value.attempts == 1
    assert len(_sends(api, "POST", CLUSTERS_URL)) == 1


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(401, AuthenticationError), (409, ConflictError), (400, RequestRejectedError)],
)
async def test_create_client_errors_are_not_retried(
    client: CceClient,
    api: AioResponses,
    clock: VirtualClock,
    status: int,
    error_class: type[ApiError],
) -> None:
    """401, 409 and plain 400 answers are final for a create: raised after one send."""
    api.post(CLUSTERS_URL, status=status, payload={"error_code": "X", "error_msg": "no"})

    with pytest.raises(error_class) as caught:
        await clock.run(client.create_cluster(PROJECT, CREATE_BODY))

    assert type(caught.value) is error_class
    assert caught.value.http_status == status
    assert caught.value.error_code == "X"
    assert caught.value.attempts == 1
    assert len(_sends(api, "POST", CLUSTERS_URL)) == 1


# ---- reads -------------------------------------------------------------------------------


async def test_show_job_returns_the_job(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """show_job GETs the job URL with the token and decodes the Job."""
    api.get(JOB_URL, status=200, payload=JOB)

    job = await clock.run(client.show_job(PROJECT, "job-1"))

    assert job.metadata.uid == "job-1"
    assert job.spec.cluster_uid == "c-1"
    assert job.status.phase == "Running"
    [sent] = _sends(api, "GET", JOB_URL)
    assert sent.kwargs["headers"]["X-Auth-Token"] == TOKEN
    assert sent.kwargs["data"] is None


async def test_show_job_with_odd_id_hits_the_escaped_url(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """An id with a slash and a space stays one escaped path segment on the wire."""
    url = f"{BASE}/jobs/odd%2Fjob%20id"
    api.get(url, status=200, payload=JOB)

    job = await clock.run(client.show_job(PROJECT, "odd/job id"))

    assert job.metadata.uid == "job-1"
    assert len(_sends(api, "GET", url)) == 1


async def test_show_cluster_returns_the_cluster(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """show_cluster GETs the cluster URL and decodes its phase."""
    api.get(CLUSTER_URL, status=200, payload=CLUSTER)

    cluster = await clock.run(client.show_cluster(PROJECT, "c-1"))

    assert cluster.status.phase == "Available"
    assert cluster.metadata.uid == "c-1"


async def test_list_clusters_returns_the_items(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """list_clusters GETs the collection without a query and returns its items."""
    api.get(CLUSTERS_URL, status=200, payload=LISTING)

    clusters = await clock.run(client.list_clusters(PROJECT))

    assert [(c.metadata.name, c.metadata.uid) for c in clusters] == [
        ("alpha-one", "c-1"),
        ("beta-two", "c-2"),
    ]


READS = [
    ("job", JOB_URL, JOB),
    ("cluster", CLUSTER_URL, CLUSTER),
    ("list", CLUSTERS_URL, LISTING),
]


async def _read(client: CceClient, kind: str) -> Any:
    if kind == "job":
        return await client.show_job(PROJECT, "job-1")
    if kind == "cluster":
        return await client.show_cluster(PROJECT, "c-1")
    return await client.list_clusters(PROJECT)


@pytest.mark.parametrize(("kind", "url", "payload"), READS)
async def test_reads_retry_server_and_connection_errors_then_succeed(
    client: CceClient, api: AioResponses, clock: VirtualClock, kind: str, url: str, payload: Any
) -> None:
    """A 500 then a connection error are retried with jittered backoff until the 200."""
    api.get(url, status=500, payload=SERVER_ERROR)
    api.get(url, exception=aiohttp.ClientConnectionError("refused"))
    api.get(url, status=200, payload=payload)

    result = await clock.run(_read(client, kind))

    assert result is not None
    assert len(_sends(api, "GET", url)) == 3
    assert clock.monotonic() == _jitter(SETTINGS, 2)
    assert client.stats.retries == Counter({kind: 2})


@pytest.mark.parametrize(("kind", "url", "payload"), READS)
@pytest.mark.parametrize("status", [500, 502])
async def test_reads_give_up_after_the_attempt_budget(
    client: CceClient,
    api: AioResponses,
    clock: VirtualClock,
    kind: str,
    url: str,
    payload: Any,
    status: int,
) -> None:
    """A read failing every time is sent exactly ``attempts`` times, then the ServerError raises."""
    api.get(url, status=status, payload=SERVER_ERROR, repeat=True)

    with pytest.raises(ServerError) as caught:
        await clock.run(_read(client, kind))

    assert caught.value.attempts == 3
    assert caught.value.http_status == status
    assert len(_sends(api, "GET", url)) == 3
    assert clock.monotonic() == _jitter(SETTINGS, 2)


async def test_read_connection_errors_give_up_with_transport_error(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """Connection errors on every attempt end in TransportError after ``attempts`` sends."""
    api.get(JOB_URL, exception=aiohttp.ClientConnectionError("refused"), repeat=True)

    with pytest.raises(TransportError) as caught:
        await clock.run(client.show_job(PROJECT, "job-1"))

    assert caught.value.attempts == 3
    assert caught.value.message == f"GET {JOB_URL}: refused"
    assert len(_sends(api, "GET", JOB_URL)) == 3


async def test_attempt_budget_comes_from_retry_settings(
    session: aiohttp.ClientSession, api: AioResponses, clock: VirtualClock
) -> None:
    """With RetrySettings(attempts=5) a failing read is sent five times."""
    settings = RetrySettings(attempts=5, base_delay=1.0, max_delay=3.0)
    client = CceClient(
        AiohttpTransport(session),
        TokenAuth(TOKEN),
        RecordingLimiters(),
        clock,
        Backoff(settings, rng=random.Random(0)),
    )
    api.get(JOB_URL, status=503, repeat=True)

    with pytest.raises(ServerError) as caught:
        await clock.run(client.show_job(PROJECT, "job-1"))

    assert caught.value.attempts == 5
    assert len(_sends(api, "GET", JOB_URL)) == 5
    assert clock.monotonic() == _jitter(settings, 4)


@pytest.mark.parametrize(
    ("status", "error_class"), [(404, NotFoundError), (401, AuthenticationError)]
)
@pytest.mark.parametrize(("kind", "url", "payload"), READS)
async def test_reads_do_not_retry_404_or_401(
    client: CceClient,
    api: AioResponses,
    clock: VirtualClock,
    kind: str,
    url: str,
    payload: Any,
    status: int,
    error_class: type[ApiError],
) -> None:
    """404 and 401 are final: one send, no sleep, the mapped error raised."""
    api.get(url, status=status, payload={"error_code": "CCE.0", "error_msg": "no"}, repeat=True)

    with pytest.raises(error_class) as caught:
        await clock.run(_read(client, kind))

    assert caught.value.attempts == 1
    assert caught.value.http_status == status
    assert len(_sends(api, "GET", url)) == 1
    assert clock.monotonic() == 0.0


# ---- Retry-After -------------------------------------------------------------------------


async def test_retry_after_sets_the_exact_delay(
    paced: tuple[CceClient, AdaptiveLimiter], api: AioResponses, clock: VirtualClock
) -> None:
    """A 429 with Retry-After: 7 pauses the endpoint exactly 7 virtual seconds."""
    client, _ = paced
    api.get(JOB_URL, status=429, payload=THROTTLED, headers={"Retry-After": "7"})
    api.get(JOB_URL, status=200, payload=JOB)

    job = await clock.run(client.show_job(PROJECT, "job-1"))

    assert job.metadata.uid == "job-1"
    assert clock.monotonic() == 7.0


async def test_retry_after_fractional_on_create(
    paced: tuple[CceClient, AdaptiveLimiter], api: AioResponses, clock: VirtualClock
) -> None:
    """A throttled create waits exactly the fractional Retry-After before its second send."""
    client, _ = paced
    api.post(CLUSTERS_URL, status=429, payload=THROTTLED, headers={"Retry-After": "2.5"})
    api.post(CLUSTERS_URL, status=201, payload=CREATED)

    await clock.run(client.create_cluster(PROJECT, CREATE_BODY))

    assert clock.monotonic() == 2.5
    assert len(_sends(api, "POST", CLUSTERS_URL)) == 2


async def test_retry_after_is_honoured_beyond_max_delay_within_the_deadline(
    paced: tuple[CceClient, AdaptiveLimiter], api: AioResponses, clock: VirtualClock
) -> None:
    """A Retry-After longer than max_delay is still honoured, as long as the deadline allows."""
    client, _ = paced
    api.get(JOB_URL, status=429, payload=THROTTLED, headers={"Retry-After": "45"})
    api.get(JOB_URL, status=200, payload=JOB)

    await clock.run(client.show_job(PROJECT, "job-1"))

    assert SETTINGS.max_delay < 45
    assert clock.monotonic() == 45.0


async def test_retry_after_past_the_deadline_gives_up_at_the_deadline(
    paced: tuple[CceClient, AdaptiveLimiter], api: AioResponses, clock: VirtualClock
) -> None:
    """A Retry-After that ends after the call's deadline ends the call at its deadline."""
    client, _ = paced
    api.get(JOB_URL, status=429, payload=THROTTLED, headers={"Retry-After": "3600"})

    with pytest.raises(DeadlineExceeded):
        await clock.run(client.show_job(PROJECT, "job-1", deadline=20.0))

    assert clock.monotonic() == 20.0
    assert len(_sends(api, "GET", JOB_URL)) == 1


async def test_retry_after_on_503_is_honoured(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """A 503 with Retry-After waits exactly that long too (the header is honoured when present)."""
    api.get(JOB_URL, status=503, payload=SERVER_ERROR, headers={"Retry-After": "4"})
    api.get(JOB_URL, status=200, payload=JOB)

    await clock.run(client.show_job(PROJECT, "job-1"))

    assert clock.monotonic() == 4.0
    assert len(_sends(api, "GET", JOB_URL)) == 2


# ---- rate limiting -----------------------------------------------------------------------


async def test_every_send_acquires_the_project_limiter_first(
    client: CceClient, api: AioResponses, clock: VirtualClock, limiters: RecordingLimiters
) -> None:
    """Each attempt acquires the limiter keyed by rate_key just before it is sent."""
    api.get(JOB_URL, status=502, callback=lambda url, **kw: limiters.events.append("send"))
    api.get(JOB_URL, status=500, callback=lambda url, **kw: limiters.events.append("send"))
    api.get(
        JOB_URL, status=200, payload=JOB, callback=lambda url, **kw: limiters.events.append("send")
    )

    await clock.run(client.show_job(PROJECT, "job-1"))

    key = f"acquire:{PROJECT.rate_key}"
    # aioresponses cannot tell when a request goes out: the client marks it after.
    wire = f"on_wire:{PROJECT.rate_key}"
    done = f"succeeded:{PROJECT.rate_key}"
    assert limiters.events == [key, "send", wire, key, "send", wire, key, "send", wire, done]
    assert set(limiters.asked) == {PROJECT.rate_key}


class _MarkingTransport:
    """Marks every request on the wire twice (the client's guard keeps one), then answers
    as the next outcome says: a ``Response``, an exception, or a send that never ends."""

    def __init__(self, *outcomes: Response | BaseException | str) -> None:
        self.outcomes = list(outcomes)

    async def send(self, request: Request) -> Response:
        mark_on_wire()
        mark_on_wire()
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome == "hang":
            await asyncio.get_running_loop().create_future()
        assert isinstance(outcome, Response)
        return outcome


class _AuthFailingOnce(TokenAuth):
    """Token auth whose first ``authenticate`` fails, as an IAM token fetch can."""

    failed = False

    async def authenticate(self, request: Request, project_id: str) -> Request:
        if not self.failed:
            self.failed = True
            raise TransportError("iam: connection reset")
        return await super().authenticate(request, project_id)


async def test_every_admission_is_marked_on_the_wire_exactly_once(
    clock: VirtualClock, limiters: RecordingLimiters
) -> None:
    """A transport that marks (here, twice), a send that fails after marking, credentials
    that fail before any send, and a send cancelled midway: each admitted attempt tells
    its limiter once that it went on the wire (or never will), so none holds its place in
    the rate window for ever."""
    answer = Response(200, {"Content-Type": "application/json"}, json.dumps(JOB).encode())
    transport = _MarkingTransport(TransportError("reset after sending"), answer, "hang")
    client = CceClient(
        transport,
        _AuthFailingOnce(TOKEN),
        limiters,
        clock,
        Backoff(SETTINGS, rng=random.Random(0)),
    )
    # Attempts: credentials fail; the send fails after marking; the third is answered.
    await clock.run(client.show_job(PROJECT, "job-1"))
    key = PROJECT.rate_key
    assert [e for e in limiters.events if not e.startswith("succeeded")] == [
        f"acquire:{key}",
        f"on_wire:{key}",
    ] * 3
    limiters.events.clear()
    hanging = asyncio.ensure_future(client.show_job(PROJECT, "job-1"))
    await clock.advance(1.0)
    hanging.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hanging
    assert limiters.events == [f"acquire:{key}", f"on_wire:{key}"]


async def test_each_call_kind_goes_through_the_limiter_once_per_send(
    client: CceClient, api: AioResponses, clock: VirtualClock, limiters: RecordingLimiters
) -> None:
    """Create, show job, show cluster and list each acquire once when answered at once."""
    api.post(CLUSTERS_URL, status=201, payload=CREATED)
    api.get(JOB_URL, status=200, payload=JOB)
    api.get(CLUSTER_URL, status=200, payload=CLUSTER)
    api.get(CLUSTERS_URL, status=200, payload=LISTING)

    async def all_calls() -> None:
        await client.create_cluster(PROJECT, CREATE_BODY)
        await client.show_job(PROJECT, "job-1")
        await client.show_cluster(PROJECT, "c-1")
        await client.list_clusters(PROJECT)

    await clock.run(all_calls())

    assert limiters.acquired == Counter({PROJECT.rate_key: 4})
    assert _total_sends(api) == 4


async def test_limiter_is_chosen_by_rate_key_not_project_id(
    client: CceClient, api: AioResponses, clock: VirtualClock, limiters: RecordingLimiters
) -> None:
    """Two projects sharing a rate key spend one limiter; a third key gets its own."""
    other = Project(id="proj456", rate_key="cn-north-4/acct-1")
    third = Project(id="proj789", rate_key="eu-west-101/acct-2")
    for pid in ("proj123", "proj456", "proj789"):
        api.get(f"{ENDPOINT}/api/v3/projects/{pid}/jobs/job-1", status=200, payload=JOB)

    async def calls() -> None:
        await client.show_job(PROJECT, "job-1")
        await client.show_job(other, "job-1")
        await client.show_job(third, "job-1")

    await clock.run(calls())

    assert limiters.acquired == Counter({"cn-north-4/acct-1": 2, "eu-west-101/acct-2": 1})


# ---- statistics --------------------------------------------------------------------------


async def test_call_stats_count_kinds_outcomes_and_retries(
    client: CceClient, api: AioResponses, clock: VirtualClock
) -> None:
    """Stats count every send by kind and outcome, and the retries by kind."""
    api.post(CLUSTERS_URL, status=429, payload=THROTTLED)
    api.post(CLUSTERS_URL, status=201, payload=CREATED)
    api.get(JOB_URL, status=500, payload=SERVER_ERROR)
    api.get(JOB_URL, status=502, body=b"<html>Bad Gateway</html>")
    api.get(JOB_URL, status=200, payload=JOB)
    api.get(CLUSTER_URL, status=404, payload={"errorCode": "CCE.01404001"})

    async def calls() -> None:
        await client.create_cluster(PROJECT, CREATE_BODY)
        await client.show_job(PROJECT, "job-1")
        with pytest.raises(NotFoundError):
            await client.show_cluster(PROJECT, "c-1")

    await clock.run(calls())

    stats = client.stats
    assert stats.calls == Counter({"create": 2, "job": 3, "cluster": 1})
    assert stats.outcomes == Counter(
        {
            ("create", "api.throttled"): 1,
            ("create", "201"): 1,
            ("job", "api.server"): 2,
            ("job", "200"): 1,
            ("cluster", "api.not_found"): 1,
        }
    )
    assert stats.retries == Counter({"create": 1, "job": 2})
    assert stats.to_report() == {
        "total": 6,
        "byKind": {"cluster": 1, "create": 2, "job": 3},
        "byOutcome": {
            "cluster:api.not_found": 1,
            "create:201": 1,
            "create:api.throttled": 1,
            "job:200": 1,
            "job:api.server": 2,
        },
        "retries": {"create": 1, "job": 2},
    }


async def test_injected_stats_are_shared(
    session: aiohttp.ClientSession, api: AioResponses, clock: VirtualClock
) -> None:
    """A CallStats passed in is the one the client fills, so several clients can share it."""
    stats = CallStats()
    client = CceClient(
        AiohttpTransport(session), TokenAuth(TOKEN), RecordingLimiters(), clock, stats=stats
    )
    api.get(CLUSTERS_URL, status=200, payload=LISTING)

    await clock.run(client.list_clusters(PROJECT))

    assert client.stats is stats
    assert stats.to_report() == {
        "total": 1,
        "byKind": {"list": 1},
        "byOutcome": {"list:200": 1},
        "retries": {},
    }


# ---- a body that arrives in pieces -------------------------------------------------------


async def test_list_reads_a_body_that_arrives_in_several_chunks(
    session: aiohttp.ClientSession,
) -> None:
    """A large listing streamed in many small chunks is read whole, not cut at the first one.

    aioresponses hands the body over in one piece, so this one test serves the answer from a
    real server on loopback (and therefore runs on the system clock).
    """
    listing = {
        "kind": "Cluster",
        "apiVersion": "v3",
        "items": [{"metadata": {"name": f"cluster-{i:03d}", "uid": f"c-{i}"}} for i in range(200)],
    }
    payload = json.dumps(listing).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for i in range(0, len(payload), 512):
            await response.write(payload[i : i + 512])
            await asyncio.sleep(0.001)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api/v3/projects/{project}/clusters", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        project = Project(endpoint=f"http://127.0.0.1:{port}")
        client = CceClient(
            AiohttpTransport(session, timeout=10.0),
            TokenAuth(TOKEN),
            RecordingLimiters(),
            SystemClock(),
            Backoff(RetrySettings(attempts=1)),
        )

        clusters = await client.list_clusters(project)
    finally:
        await runner.cleanup()

    assert len(payload) > 8 * 512
    assert len(clusters) == 200
    assert clusters[-1].metadata.name == "cluster-199"


def test_proxies_come_from_the_environment_once_per_origin() -> None:
    """HTTPS_PROXY for https endpoints, HTTP_PROXY for http, NO_PROXY hosts and domains
    sent direct; the lookup is made once per origin."""
    proxies = EnvProxies(
        {
            "HTTPS_PROXY": "http://proxy.corp:3128",
            "http_proxy": "http://plain.corp:8080",
            "NO_PROXY": "localhost, .internal.example,cce.eu-west-101.myhuaweicloud.eu",
        }
    )
    cloud = "https://cce.cn-north-4.myhuaweicloud.com/api/v3/projects/p/clusters"
    assert proxies.for_url(cloud) == "http://proxy.corp:3128"
    assert proxies.for_url("http://sim.test:8443/api") == "http://plain.corp:8080"
    assert proxies.for_url("https://cce.eu-west-101.myhuaweicloud.eu/x") is None
    assert proxies.for_url("https://cce.a.internal.example/x") is None
    assert proxies.for_url("http://localhost:8443/x") is None
    assert EnvProxies({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}).for_url(cloud) is None
    assert EnvProxies({}).for_url(cloud) is None
