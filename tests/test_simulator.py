"""The simulator: real paths, bodies and status codes over HTTP, and the job lifecycle."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from batchcreate.clock import VirtualClock
from batchcreate.simulator.fake_cce import FakeCce, SimulatorConfig, go_timestamp
from batchcreate.simulator.server import LEDGER_PATH, RunningSimulator

BODY: dict[str, Any] = {
    "kind": "Cluster",
    "apiVersion": "v3",
    "metadata": {"name": "mycluster", "labels": {"foo": "bar"}},
    "spec": {
        "type": "VirtualMachine",
        "flavor": "cce.s1.small",
        "hostNetwork": {"vpc": "vpc-1", "subnet": "subnet-1"},
        "containerNetwork": {"mode": "overlay_l2"},
        "kubeProxyMode": "iptables",
    },
}


async def call(
    sim: RunningSimulator,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            sim.url + path,
            data=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json", **(headers or {})},
        ) as answer,
    ):
        raw = await answer.read()
        return answer.status, {k.lower(): v for k, v in answer.headers.items()}, json.loads(raw)


async def test_create_answers_201_with_job_id_and_echoes_unknown_fields(
    sim: RunningSimulator,
) -> None:
    """A valid create is 201 Creating with status.jobID, metadata.uid and the body's fields."""
    status, headers, data = await call(sim, "POST", "/api/v3/projects/p1/clusters", BODY)
    assert status == 201
    assert headers["x-request-id"]
    assert data["status"]["phase"] == "Creating"
    assert data["status"]["jobID"]
    assert data["metadata"]["uid"]
    assert data["metadata"]["labels"] == {"foo": "bar"}
    assert data["spec"]["kubeProxyMode"] == "iptables"
    assert data["metadata"]["creationTimestamp"].endswith(" +0000 UTC")


async def test_duplicate_name_is_409_with_an_error_body(sim: RunningSimulator) -> None:
    """A second create with the same name in the project is a 409 CCE.01409001."""
    await call(sim, "POST", "/api/v3/projects/p1/clusters", BODY)
    status, _, data = await call(sim, "POST", "/api/v3/projects/p1/clusters", BODY)
    assert status == 409
    assert data["errorCode"] == "CCE.01409001"
    other, _, _ = await call(sim, "POST", "/api/v3/projects/p2/clusters", BODY)
    assert other == 201
    assert sim.cce.create_calls[("p1", "mycluster")] == 2
    assert sim.cce.created[("p1", "mycluster")] == 1


@pytest.mark.parametrize(
    ("patch", "detail"),
    [
        ({"kind": "Node"}, "kind must be Cluster"),
        ({"metadata": {"name": "X"}}, "metadata.name 'X' is invalid"),
        ({"spec": {**BODY["spec"], "type": "Mainframe"}}, "spec.type 'Mainframe'"),
        ({"spec": {**BODY["spec"], "hostNetwork": {"vpc": "v"}}}, "hostNetwork"),
    ],
)
async def test_invalid_body_is_400_in_the_status_style(
    sim: RunningSimulator, patch: dict[str, Any], detail: str
) -> None:
    """An invalid create body answers 400 with the mixed Kubernetes Status error body."""
    status, _, data = await call(sim, "POST", "/api/v3/projects/p1/clusters", {**BODY, **patch})
    assert status == 400
    assert data["kind"] == "Status"
    assert (data["errorCode"], data["error_code"]) == ("CCE.01400001", "CCE_CM.0004")
    assert detail in data["message"]


async def test_unknown_job_and_cluster_are_404(sim: RunningSimulator) -> None:
    """Unknown ids answer 404 CCE.01404001; unknown paths answer the gateway's 404."""
    status, _, data = await call(sim, "GET", "/api/v3/projects/p1/jobs/nope")
    assert (status, data["errorCode"]) == (404, "CCE.01404001")
    status, _, data = await call(sim, "GET", "/api/v3/projects/p1/clusters/nope")
    assert (status, data["errorCode"]) == (404, "CCE.01404001")
    status, _, data = await call(sim, "GET", "/api/v2/whatever")
    assert (status, data["error_code"]) == (404, "APIGW.0101")
    status, _, _ = await call(sim, "DELETE", "/api/v3/projects/p1/clusters")
    assert status == 405


async def test_list_show_and_job_agree(sim: RunningSimulator) -> None:
    """The list, the cluster and its job describe the same cluster."""
    _, _, created = await call(sim, "POST", "/api/v3/projects/p1/clusters", BODY)
    uid, job_id = created["metadata"]["uid"], created["status"]["jobID"]
    status, _, listing = await call(sim, "GET", "/api/v3/projects/p1/clusters")
    assert status == 200
    assert (listing["kind"], listing["apiVersion"]) == ("Cluster", "v3")
    assert [c["metadata"]["uid"] for c in listing["items"]] == [uid]
    _, _, shown = await call(sim, "GET", f"/api/v3/projects/p1/clusters/{uid}")
    assert shown["metadata"]["name"] == "mycluster"
    _, _, job = await call(sim, "GET", f"/api/v3/projects/p1/jobs/{job_id}")
    assert job["kind"] == "Job"
    assert job["spec"]["clusterUID"] == uid
    assert job["spec"]["resourceName"] == "mycluster"
    assert job["status"]["phase"] in ("Initializing", "Running")
    _, _, empty = await call(sim, "GET", "/api/v3/projects/p1/clusters?status=Available")
    assert empty["items"] == []


@pytest.mark.parametrize("sim_config", [SimulatorConfig(token="s3cret")])
async def test_token_is_checked_when_configured(sim: RunningSimulator) -> None:
    """With --token, calls without it get the gateway's 401 APIGW.0301."""
    status, _, data = await call(sim, "GET", "/api/v3/projects/p1/clusters")
    assert (status, data["error_code"]) == (401, "APIGW.0301")
    status, _, _ = await call(
        sim, "GET", "/api/v3/projects/p1/clusters", headers={"X-Auth-Token": "s3cret"}
    )
    assert status == 200


async def test_ledger_path_reports_ground_truth(sim: RunningSimulator) -> None:
    """The admin path lists clusters and create calls per name."""
    await call(sim, "POST", "/api/v3/projects/p1/clusters", BODY)
    await call(sim, "POST", "/api/v3/projects/p1/clusters", BODY)
    _, _, ledger = await call(sim, "GET", LEDGER_PATH)
    assert ledger["createCalls"] == [
        {"project": "p1", "name": "mycluster", "calls": 2, "created": 1}
    ]
    assert [c["name"] for c in ledger["clusters"]] == ["mycluster"]


def test_job_lifecycle_in_virtual_time() -> None:
    """Initializing for the first tenth, Running until the duration, then Success/Available."""
    clock = VirtualClock()
    cce = FakeCce(SimulatorConfig(job_duration=100.0, duration_jitter=0.0), clock=clock)
    answer = cce.handle("POST", "/api/v3/projects/p1/clusters", {}, {}, json.dumps(BODY).encode())
    created = json.loads(answer.body)
    cluster = cce.cluster_named("p1", "mycluster")
    assert cluster is not None
    assert cluster.job is not None
    phases = []
    for t in (0.0, 9.9, 10.0, 99.9, 100.0):
        clock._now = t
        phases.append((cce.job_phase(cluster.job), cce.cluster_phase(cluster)))
    assert phases == [
        ("Initializing", "Creating"),
        ("Initializing", "Creating"),
        ("Running", "Creating"),
        ("Running", "Creating"),
        ("Success", "Available"),
    ]
    assert created["status"]["jobID"] == cluster.job.uid


def test_fail_rate_is_seeded_and_failures_carry_reasons() -> None:
    """The same seed fails the same clusters; a failed job leaves Unavailable or Error."""

    def fates(seed: int) -> list[tuple[str, str]]:
        clock = VirtualClock()
        cce = FakeCce(SimulatorConfig(job_duration=1.0, fail_rate=0.5, seed=seed), clock=clock)
        for i in range(40):
            body = {**BODY, "metadata": {"name": f"c-{i:03d}"}}
            cce.handle("POST", "/api/v3/projects/p/clusters", {}, {}, json.dumps(body).encode())
        clock._now = 10.0
        return [
            (cce.job_phase(c.job), cce.cluster_phase(c)) for c in cce.clusters.values() if c.job
        ]

    first, again, other = fates(7), fates(7), fates(8)
    assert first == again
    assert first != other
    failed = [f for f in first if f[0] == "Failed"]
    assert 8 <= len(failed) <= 32
    assert {phase for _, phase in failed} <= {"Unavailable", "Error"}
    assert all(phase == "Available" for job, phase in first if job == "Success")


def test_go_timestamp_format() -> None:
    """Timestamps are Go-style strings, as the real service writes them."""
    assert go_timestamp(1533181738.968214) == "2018-08-02 03:48:58.968214000 +0000 UTC"
