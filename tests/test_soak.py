"""Soak: thousands of clusters over loopback HTTP against a simulator that misbehaves in
every way it can, then every report entry checked against the simulator's ground truth."""

from __future__ import annotations

import collections
import time
from typing import Any

import aiohttp

from batchcreate.app import execute
from batchcreate.auth import NoAuth
from batchcreate.clock import SystemClock
from batchcreate.manifest import build_plan
from batchcreate.report import Outcome
from batchcreate.simulator.fake_cce import FakeCce, SimulatorConfig
from batchcreate.simulator.faults import parse_fault_spec
from batchcreate.simulator.server import start_simulator
from batchcreate.transport import AiohttpTransport
from tests.conftest import manifest_dict

CLUSTERS_PER_PROJECT = 250
PROJECTS = 8
FAULTS = (
    "throttle=0.05,retry_after=0.05s,server_rate=150,server_burst=15,errors=0.06,resets=0.04,"
    "slow=0.03,slow_seconds=1.2s,lost_creates=0.05,job_expiry=0.4s,stuck=0.01,broken=0.02"
)
SETTINGS: dict[str, Any] = {
    "rateLimit": 400,
    "maxInFlight": 200,
    "maxInFlightPerProject": 30,
    "timeout": "20s",
    "requestTimeout": "1s",
    "poll": {"initialDelay": "0.3s", "interval": "0.15s", "maxInterval": "0.4s"},
    "retry": {"attempts": 8, "baseDelay": "0.05s", "maxDelay": "0.5s"},
}


async def test_soak_every_cluster_once_matching_the_ledger_with_no_duplicates() -> None:
    """2,000 clusters, over 20% of calls faulted: each cluster is reported once, its outcome
    matches what the simulator did, and no name was created twice."""
    clock = SystemClock()
    cce = FakeCce(
        SimulatorConfig(
            job_duration=0.3, duration_jitter=0.3, seed=2026, faults=parse_fault_spec(FAULTS)
        ),
        clock=clock,
    )
    names = {
        f"proj-{p}": [f"soak-{p}-{i:04d}" for i in range(CLUSTERS_PER_PROJECT)]
        for p in range(PROJECTS)
    }
    manifest = manifest_dict(names, settings=SETTINGS)
    for index, project in enumerate(manifest["projects"]):
        project["region"] = "cn-north-4" if index % 2 else "ap-southeast-1"
    started = time.monotonic()
    async with await start_simulator(cce) as sim:
        for project in manifest["projects"]:
            project["endpoint"] = sim.url
        plan = build_plan(manifest)
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as session:
            transport = AiohttpTransport(session, timeout=plan.settings.request_timeout)
            result = await execute(plan, transport, NoAuth(), clock)
        ledger = cce.ledger()
    wall = time.monotonic() - started

    report = result.report
    total = PROJECTS * CLUSTERS_PER_PROJECT
    keys = [(c.project, c.name) for c in report.clusters]
    assert len(keys) == len(set(keys)) == total

    requests = sum(ledger["requests"].values())
    faults = ledger["faults"]
    # Calls answered with a fault; expired-job 404s are left out, as the real service has them.
    faulted_calls = sum(v for k, v in faults.items() if k not in ("stuck", "broken", "job_expiry"))
    assert faulted_calls >= 0.2 * requests, (faulted_calls, requests)
    assert all(faults[kind] > 0 for kind in faults), faults

    created = {(c["project"], c["name"]): c["created"] for c in ledger["createCalls"]}
    assert max(created.values()) == 1  # no name received a second successful create
    truth = {(c["project"], c["name"]): c for c in ledger["clusters"]}
    outcomes: collections.Counter[str] = collections.Counter()
    for entry in report.clusters:
        real = truth.get((entry.project, entry.name))
        outcomes[entry.outcome.value] += 1
        # Every cluster was created by the simulator.
        assert real is not None, (entry.outcome, entry.reason, entry.last_error, entry.attempts)
        assert entry.cluster_id == real["uid"], entry
        if entry.outcome is Outcome.CREATED:
            assert real["phase"] == "Available", (entry, real)
        elif entry.outcome is Outcome.FAILED:
            assert real["phase"] == "Unavailable", (entry, real)  # a broken cluster
            assert real["jobPhase"] == "Success", (entry, real)
        else:
            assert entry.outcome is Outcome.TIMED_OUT, entry
            assert real["jobPhase"] in ("Initializing", "Running"), (entry, real)  # stuck
    stuck = sum(1 for c in truth.values() if c["jobPhase"] in ("Initializing", "Running"))
    assert outcomes["timed_out"] == stuck
    assert outcomes["created"] + outcomes["failed"] + outcomes["timed_out"] == total
    print(
        f"\nsoak: {total} clusters in {wall:.1f}s; {requests} calls, {faulted_calls} faulted "
        f"({faulted_calls / requests:.0%}): {faults}; client retries "
        f"{report.calls['retries']}; outcomes {dict(outcomes)}; duplicates 0"
    )
