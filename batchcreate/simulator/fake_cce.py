"""A faithful fake of the CCE v3 API's cluster and job calls, as a pure state machine.

``FakeCce.serve`` takes a request (method, path, query, headers, body) and returns what to
do with it: an answer, possibly delayed or lost, or a reset connection (see
``batchcreate.simulator.faults``); ``FakeCce.handle`` is the same without per-call faults.
Time comes from an injected clock, so the same fake serves real HTTP (through
``batchcreate.simulator.server``) and virtual-time runs (``InMemoryTransport``).
Jobs run ``Initializing → Running → Success`` (cluster ``Creating → Available``) over a
configurable duration; a seeded fraction fail (cluster ``Unavailable`` or ``Error``).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import math
import random
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from batchcreate.clock import Clock
from batchcreate.iam import TOKEN_PATH
from batchcreate.models import CLUSTER_TYPES, CONTAINER_NETWORK_MODES, NAME_PATTERN
from batchcreate.simulator.faults import Fault, FaultConfig, FaultInjector, format_fault_spec
from batchcreate.simulator.gatekeeper import AuthConfig, Gatekeeper

_PROJECT = r"/api/v3/projects/(?P<project>[^/]+)"
_ROUTES = [
    ("POST", re.compile(_PROJECT + r"/clusters/?$"), "create"),
    ("GET", re.compile(_PROJECT + r"/clusters/?$"), "list"),
    ("GET", re.compile(_PROJECT + r"/clusters/(?P<cluster>[^/]+)/?$"), "cluster"),
    ("GET", re.compile(_PROJECT + r"/jobs/(?P<job>[^/]+)/?$"), "job"),
]

FAILURE_REASONS = (
    "Failed to create master node: insufficient ECS capacity in the selected AZ",
    "Failed to install the cluster network add-on: subnet has no free IP addresses",
    "Failed to create the master's EVS volume: quota exceeded",
)
#: Why a cluster whose job succeeded is ``Unavailable`` (the ``broken`` fault).
BROKEN_REASONS = (
    "The cluster's kube-apiserver failed its health check after creation",
    "The cluster's etcd lost quorum after creation",
)


@dataclass(frozen=True)
class Behaviour:
    """A scripted fate for one cluster name, overriding the random draw."""

    duration: float | None = None
    job_phase: str = "Success"
    cluster_phase: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SimulatorConfig:
    """How the fake behaves; every default gives a well-behaved service."""

    job_duration: float = 3.0
    #: Each job's duration is drawn uniformly within ± this fraction of ``job_duration``.
    duration_jitter: float = 0.3
    fail_rate: float = 0.0
    seed: int | None = None
    token: str | None = None
    #: Who may call (AK/SK, IAM users, tokens); ``token`` above is the short form.
    auth: AuthConfig | None = None
    #: Most clusters one project may hold; past it a create is refused like a real quota.
    quota: int | None = None
    behaviours: Mapping[str, Behaviour] = field(default_factory=dict)
    #: What goes wrong, and how often; the default is a healthy service.
    faults: FaultConfig = field(default_factory=FaultConfig)


@dataclass
class SimJob:
    uid: str
    project: str
    cluster_uid: str
    cluster_name: str
    started: float
    duration: float
    final_phase: str
    reason: str


@dataclass
class SimCluster:
    uid: str
    project: str
    name: str
    body: dict[str, Any]
    created_wall: float
    job: SimJob | None
    #: The phase once the job is over (or always, for clusters seeded as existing).
    final_phase: str
    reason: str | None = None
    message: str | None = None
    #: What became of the create's answer: ``sent``, ``lost`` or ``delayed`` (None: seeded).
    create_answer: str | None = None


@dataclass(frozen=True)
class SimAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Served:
    """How a transport must act out one request: the answer and the fault around it."""

    #: The answer, or None when the connection is reset before the request is processed.
    answer: SimAnswer | None
    #: The request was processed, but the connection is reset instead of answering.
    reset_after: bool = False
    #: Seconds to wait before answering (the request was processed on arrival).
    delay: float = 0.0


@dataclass(frozen=True)
class _Call:
    """A request routed to one of the four CCE calls."""

    kind: str
    args: dict[str, str]
    #: For a create: its body when valid, else what is wrong with it.
    create: dict[str, Any] | str | None = None
    #: What the gateway checks a signature over: method, path and query as sent, body.
    method: str = "GET"
    target: str = ""
    body: bytes = b""


def _target(path: str, query: Mapping[str, str]) -> str:
    """Path and query as a client would have sent them, when the raw form is unknown."""
    return f"{path}?{urlencode(list(query.items()))}" if query else path


def go_timestamp(epoch: float) -> str:
    """The Go-style timestamp the service writes: ``2018-08-02 03:48:58.968214406 +0000 UTC``."""
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") + "000 +0000 UTC"


class FakeCce:
    """The fake service's state and its request handler."""

    def __init__(self, config: SimulatorConfig | None = None, *, clock: Clock) -> None:
        self.config = config or SimulatorConfig()
        self.gate = Gatekeeper(self.config.auth or AuthConfig(token=self.config.token), clock)
        self.clock = clock
        self._rng = random.Random(self.config.seed)
        self.clusters: dict[tuple[str, str], SimCluster] = {}  # (project, uid)
        #: (project, name) -> cluster, and project -> its clusters: a create's name check
        #: and a list are not scans of every cluster.
        self._named: dict[tuple[str, str], SimCluster] = {}
        self._in_project: dict[str, list[SimCluster]] = {}
        self.jobs: dict[tuple[str, str], SimJob] = {}  # (project, uid)
        #: Ground truth: create calls received and clusters created, per (project, name).
        self.create_calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self.created: collections.Counter[tuple[str, str]] = collections.Counter()
        self.requests: collections.Counter[str] = collections.Counter()
        self.faults = FaultInjector(self.config.faults, self._rng, clock)

    # ---- test and demo helpers ---------------------------------------------------------

    def seed_cluster(
        self,
        project: str,
        name: str,
        *,
        phase: str = "Available",
        job_remaining: float | None = None,
        reason: str | None = None,
    ) -> SimCluster:
        """Put a cluster in place as if an earlier run made it; ``job_remaining`` keeps its
        creation job running for that many more seconds."""
        uid = self._uuid()
        job = None
        if job_remaining is not None:
            job = SimJob(
                self._uuid(),
                project,
                uid,
                name,
                self.clock.monotonic(),
                job_remaining,
                "Success",
                "",
            )
            self.jobs[(project, job.uid)] = job
        cluster = SimCluster(
            uid, project, name, _seed_body(name), self.clock.time(), job, phase, reason
        )
        self._add(cluster)
        return cluster

    def _add(self, cluster: SimCluster) -> None:
        self.clusters[(cluster.project, cluster.uid)] = cluster
        self._named[(cluster.project, cluster.name)] = cluster
        self._in_project.setdefault(cluster.project, []).append(cluster)

    def cluster_named(self, project: str, name: str) -> SimCluster | None:
        cluster = self._named.get((project, name))
        # Tests delete clusters from ``clusters`` directly: the index follows it.
        if cluster is not None and self.clusters.get((project, cluster.uid)) is cluster:
            return cluster
        return None

    def ledger(self) -> dict[str, Any]:
        """Ground truth for tests: every cluster, create calls per name, calls and faults.

        ``calls`` counts every create with a valid body that arrived, however it was answered
        (faults included); ``created`` those that made the cluster. ``requests`` counts calls
        by kind, ``faults`` the faults injected by kind (``job_expiry``: 404s for expired jobs).
        """
        return {
            "clusters": [
                {
                    "project": c.project,
                    "name": c.name,
                    "uid": c.uid,
                    "phase": self.cluster_phase(c),
                    "jobId": c.job.uid if c.job else None,
                    "jobPhase": self.job_phase(c.job) if c.job else None,
                    "jobExpired": self.job_expired(c.job) if c.job else None,
                    "createAnswer": c.create_answer,
                }
                for c in self.clusters.values()
            ],
            "createCalls": [
                {"project": p, "name": n, "calls": k, "created": self.created[(p, n)]}
                for (p, n), k in sorted(self.create_calls.items())
            ],
            "requests": dict(self.requests),
            "faults": {f.value: self.faults.injected[f] for f in Fault},
            "faultSpec": format_fault_spec(self.config.faults),
        }

    # ---- lifecycle -----------------------------------------------------------------------

    def job_phase(self, job: SimJob) -> str:
        elapsed = self.clock.monotonic() - job.started
        if elapsed >= job.duration:
            return job.final_phase
        # A job that never ends (the ``stuck`` fault) still leaves Initializing on time.
        span = job.duration if math.isfinite(job.duration) else self.config.job_duration
        return "Initializing" if elapsed < 0.1 * span else "Running"

    def cluster_phase(self, cluster: SimCluster) -> str:
        if cluster.job is not None and self.job_phase(cluster.job) not in ("Success", "Failed"):
            return "Creating"
        return cluster.final_phase

    def job_expired(self, job: SimJob) -> bool:
        """Whether the job's record is gone (``job_expiry``), though its cluster lives on."""
        return self.faults.job_expired(job.started, job.duration)

    # ---- the API -----------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        target: str | None = None,
    ) -> SimAnswer:
        """Answer one request as a healthy service would: no per-call faults (job faults,
        which belong to the jobs this starts, still apply)."""
        call = self._receive(method, path, body, target or _target(path, query))
        if isinstance(call, SimAnswer):
            return call
        return self._process(call, query, headers)

    def serve(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        target: str | None = None,
    ) -> Served:
        """Answer one request with whatever per-call fault strikes it, for a transport to
        act out; faults strike only the four CCE calls."""
        call = self._receive(method, path, body, target or _target(path, query))
        if isinstance(call, SimAnswer):
            return Served(call)
        fault = self.faults.before_call()
        if fault is Fault.RESET:
            return Served(None)
        if fault is Fault.SLOW:
            answer = self._process(call, query, headers, create_answer="delayed")
            return Served(answer, delay=self.config.faults.slow_seconds)
        if fault is not None:
            return Served(self._fault_answer(fault))
        answer = self._process(call, query, headers)
        if call.kind == "create" and answer.status == 201 and self.faults.lose_create():
            self._created_by(call).create_answer = "lost"
            return Served(answer, reset_after=True)
        return Served(answer)

    def _receive(self, method: str, path: str, body: bytes, target: str) -> _Call | SimAnswer:
        """Route a request and count it; an answer for a path or method that is not a call."""
        if path.rstrip("/") == TOKEN_PATH and method == "POST":
            self.requests["iam.token"] += 1
            status, extra, data = self.gate.issue_token(body)
            answer = self._json(status, data)
            return SimAnswer(answer.status, {**answer.headers, **extra}, answer.body)
        known_path = False
        for route_method, pattern, kind in _ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            known_path = True
            if method != route_method:
                continue
            self.requests[kind] += 1
            call = _Call(kind, match.groupdict(), method=method, target=target, body=body)
            if kind == "create":
                create = _parse_create(body)
                if isinstance(create, dict):
                    self.create_calls[(call.args["project"], create["metadata"]["name"])] += 1
                call = dataclasses.replace(call, create=create)
            return call
        if known_path:
            return self._error(405, {"error_code": "APIGW.0101", "error_msg": "Method not allowed"})
        return self._error(
            404,
            {
                "error_code": "APIGW.0101",
                "error_msg": "The API does not exist or has not been published in the environment",
            },
        )

    def _process(
        self,
        call: _Call,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        *,
        create_answer: str = "sent",
    ) -> SimAnswer:
        denial = self.gate.check(call.method, call.target, headers, call.body)
        if denial is not None:
            return self._error(*denial)
        project = call.args["project"]
        if call.kind == "create":
            assert call.create is not None
            return self._create(project, call.create, create_answer)
        if call.kind == "list":
            return self._list(project, query)
        if call.kind == "cluster":
            return self._show_cluster(project, call.args["cluster"])
        return self._show_job(project, call.args["job"])

    def _created_by(self, call: _Call) -> SimCluster:
        """The cluster a successful create call made."""
        assert isinstance(call.create, dict)
        cluster = self.cluster_named(call.args["project"], call.create["metadata"]["name"])
        assert cluster is not None
        return cluster

    def _create(self, project: str, body: dict[str, Any] | str, create_answer: str) -> SimAnswer:
        if isinstance(body, str):
            return self._invalid(body)
        name = body["metadata"]["name"]
        if self.cluster_named(project, name) is not None:
            return self._error(
                409,
                {
                    "errorCode": "CCE.01409001",
                    "errorMessage": f"The cluster name {name} has been used.",
                    "error_code": "CCE.01409001",
                    "error_msg": "Resource already exists",
                },
            )
        quota = self.config.quota
        if quota is not None and sum(c.project == project for c in self.clusters.values()) >= quota:
            return self._error(
                400,
                {
                    "errorCode": "CCE.01400007",
                    "errorMessage": f"The number of clusters exceeds the quota ({quota}).",
                },
            )
        cluster = self._start(project, name, body)
        cluster.create_answer = create_answer
        self.created[(project, name)] += 1
        return self._json(201, self._cluster_json(cluster))

    def _start(self, project: str, name: str, body: dict[str, Any]) -> SimCluster:
        scripted = self.config.behaviours.get(name)
        base = self.config.job_duration
        jitter = self.config.duration_jitter
        duration = base * self._rng.uniform(1 - jitter, 1 + jitter) if jitter else base
        fails = self._rng.random() < self.config.fail_rate
        job_phase = "Failed" if fails else "Success"
        cluster_phase = self._rng.choice(("Unavailable", "Error")) if fails else "Available"
        reason = self._rng.choice(FAILURE_REASONS) if fails else ""
        if scripted is not None:
            duration = base if scripted.duration is None else scripted.duration
            job_phase = scripted.job_phase
            default_phase = "Available" if job_phase == "Success" else "Unavailable"
            cluster_phase = scripted.cluster_phase or default_phase
            reason = scripted.reason or (FAILURE_REASONS[0] if cluster_phase != "Available" else "")
        elif self.faults.job_stuck():
            duration = math.inf
        elif job_phase == "Success" and self.faults.job_broken():
            cluster_phase = "Unavailable"
            reason = self._rng.choice(BROKEN_REASONS)
        uid = self._uuid()
        job = SimJob(
            self._uuid(),
            project,
            uid,
            name,
            self.clock.monotonic(),
            duration,
            job_phase,
            reason if job_phase == "Failed" else "",
        )
        cluster = SimCluster(
            uid,
            project,
            name,
            body,
            self.clock.time(),
            job,
            cluster_phase,
            reason or None,
            reason or None,
        )
        self._add(cluster)
        self.jobs[(project, job.uid)] = job
        return cluster

    def _list(self, project: str, query: Mapping[str, str]) -> SimAnswer:
        wanted = query.get("status")
        items = [
            self._cluster_json(c)
            for c in self._in_project.get(project, ())
            if self.clusters.get((project, c.uid)) is c  # tests delete from ``clusters``
            and (not wanted or self.cluster_phase(c) == wanted)
        ]
        return self._json(200, {"kind": "Cluster", "apiVersion": "v3", "items": items})

    def _show_cluster(self, project: str, uid: str) -> SimAnswer:
        cluster = self.clusters.get((project, uid))
        if cluster is None:
            return self._not_found(f"cluster {uid}")
        return self._json(200, self._cluster_json(cluster))

    def _show_job(self, project: str, uid: str) -> SimAnswer:
        job = self.jobs.get((project, uid))
        if job is None:
            return self._not_found(f"job {uid}")
        if self.job_expired(job):
            self.faults.injected[Fault.JOB_EXPIRED] += 1
            return self._not_found(f"job {uid}")
        phase = self.job_phase(job)
        stamp = go_timestamp(self.clock.time())
        sub = {
            "kind": "Job",
            "apiVersion": "v3",
            "metadata": {"uid": job.uid + "-master", "creationTimestamp": stamp},
            "spec": {"type": "CreateMaster", "clusterUID": job.cluster_uid},
            "status": {"phase": phase, "reason": job.reason if phase == "Failed" else ""},
        }
        return self._json(
            200,
            {
                "kind": "Job",
                "apiVersion": "v3",
                "metadata": {"uid": job.uid, "creationTimestamp": stamp, "updateTimestamp": stamp},
                "spec": {
                    "type": "CreateCluster",
                    "clusterUID": job.cluster_uid,
                    "resourceID": job.cluster_uid,
                    "resourceName": job.cluster_name,
                    "extendParam": {},
                    "subJobs": [sub],
                },
                "status": {"phase": phase, "reason": job.reason if phase == "Failed" else ""},
            },
        )

    # ---- answers -------------------------------------------------------------------------

    def _cluster_json(self, cluster: SimCluster) -> dict[str, Any]:
        phase = self.cluster_phase(cluster)
        metadata = {
            **cluster.body.get("metadata", {}),
            "uid": cluster.uid,
            "creationTimestamp": go_timestamp(cluster.created_wall),
            "updateTimestamp": go_timestamp(self.clock.time()),
        }
        spec = {
            **cluster.body.get("spec", {}),
            "authentication": {"mode": "rbac", "authenticatingProxy": {}},
        }
        status: dict[str, Any] = {"phase": phase}
        if cluster.job is not None:
            status["jobID"] = cluster.job.uid
        if phase != "Available" and phase != "Creating" and cluster.reason:
            status["reason"] = cluster.reason
            status["message"] = cluster.message or cluster.reason
        return {
            "kind": "Cluster",
            "apiVersion": "v3",
            "metadata": metadata,
            "spec": spec,
            "status": status,
        }

    def _invalid(self, message: str) -> SimAnswer:
        return self._error(
            400,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "code": 400,
                "errorCode": "CCE.01400001",
                "errorMessage": "Invalid request.",
                "error_code": "CCE_CM.0004",
                "error_msg": "Request is invalid",
                "message": message,
                "reason": "BadRequest",
            },
        )

    def _fault_answer(self, fault: Fault) -> SimAnswer:
        """The answer a throttle, server-limit or error fault gives instead of the call's."""
        config = self.config.faults
        nth = self.faults.injected[fault]  # this fault's number, counting from 1
        if fault is Fault.SERVER_RATE:
            return self._error(
                429,
                {
                    "error_code": "APIGW.0308",
                    "error_msg": "The throttling threshold has been reached: policy user over "
                    f"ratelimit,limit:{config.server_rate:g},time:1 second",
                },
            )
        if fault is Fault.THROTTLE:
            answer = self._error(429, _THROTTLE_BODIES[(nth - 1) // 2 % len(_THROTTLE_BODIES)])
            if nth % 2:  # every other throttle says when to come back
                headers = {**answer.headers, "Retry-After": f"{config.retry_after:g}"}
                return SimAnswer(429, headers, answer.body)
            return answer
        status = _ERROR_STATUSES[(nth - 1) % len(_ERROR_STATUSES)]
        if status == 502:
            return SimAnswer(502, {"Content-Type": "text/html"}, _PROXY_502_PAGE)
        return self._error(
            status,
            {"errorCode": "CCE.01500001", "errorMessage": f"Internal error (HTTP {status})"},
        )

    def _not_found(self, what: str) -> SimAnswer:
        return self._error(
            404,
            {
                "errorCode": "CCE.01404001",
                "errorMessage": f"The resource could not be found: {what}",
            },
        )

    def _error(self, status: int, body: dict[str, Any]) -> SimAnswer:
        return self._json(status, body)

    def _json(self, status: int, body: dict[str, Any]) -> SimAnswer:
        return SimAnswer(
            status,
            {
                "Content-Type": "application/json;charset=UTF-8",
                "X-Request-Id": self._uuid().replace("-", ""),
            },
            json.dumps(body, separators=(",", ":")).encode(),
        )

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


_THROTTLE_BODIES: tuple[dict[str, Any], ...] = (
    {
        "error_code": "APIGW.0308",
        "error_msg": "The throttling threshold has been reached: "
        "policy user over ratelimit,limit:200,time:5 minute",
    },
    {"errorCode": "CCE.01429003", "errorMessage": "Too many requests, please try again later."},
)
_ERROR_STATUSES = (500, 502, 503)
_PROXY_502_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def _seed_body(name: str) -> dict[str, Any]:
    return {
        "kind": "Cluster",
        "apiVersion": "v3",
        "metadata": {"name": name},
        "spec": {"type": "VirtualMachine", "flavor": "cce.s1.small"},
    }


def _parse_create(raw: bytes) -> dict[str, Any] | str:
    """A create's body when the service would accept it, else what is wrong with it."""
    try:
        body = json.loads(raw)
    except ValueError:
        return "the request body is not valid JSON"
    problem = _create_problem(body)
    if problem is not None:
        return problem
    assert isinstance(body, dict)  # _create_problem saw to that
    return body


def _create_problem(body: Any) -> str | None:
    """What the service would refuse in a create body, or None."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    if body.get("kind") != "Cluster":
        return "kind must be Cluster"
    if body.get("apiVersion") != "v3":
        return "apiVersion must be v3"
    metadata = body.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or not 4 <= len(name) <= 128:
        return f"metadata.name {name!r} is invalid"
    spec = body.get("spec")
    if not isinstance(spec, dict):
        return "spec is required"
    if spec.get("type") not in CLUSTER_TYPES:
        return f"spec.type {spec.get('type')!r} is not supported"
    if not isinstance(spec.get("flavor"), str):
        return "spec.flavor is required"
    host = spec.get("hostNetwork")
    if not isinstance(host, dict) or not host.get("vpc") or not host.get("subnet"):
        return "spec.hostNetwork.vpc and spec.hostNetwork.subnet are required"
    container = spec.get("containerNetwork")
    if not isinstance(container, dict) or container.get("mode") not in CONTAINER_NETWORK_MODES:
        return "spec.containerNetwork.mode is invalid"
    return None
