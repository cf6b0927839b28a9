"""Whole batches over real loopback HTTP against the simulator (an aiohttp server)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from batchcreate.app import run_batch
from batchcreate.auth import TokenAuth
from batchcreate.manifest import build_plan
from batchcreate.report import Outcome
from batchcreate.simulator.fake_cce import Behaviour, SimulatorConfig
from batchcreate.simulator.server import LEDGER_PATH, RunningSimulator
from tests.conftest import manifest_dict

FAST = {
    "rateLimit": 200,
    "maxInFlight": 40,
    "maxInFlightPerProject": 15,
    "timeout": "3s",
    "poll": {"initialDelay": "0.2s", "interval": "0.1s", "maxInterval": "0.2s"},
}


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Short jobs, a scripted few that fail, break after success, or never finish in time."""
    return SimulatorConfig(
        job_duration=0.4,
        duration_jitter=0.25,
        seed=11,
        token="sim-token",
        behaviours={
            "web-03": Behaviour(
                job_phase="Failed",
                cluster_phase="Error",
                reason="Failed to create master node: no capacity",
            ),
            "db-02": Behaviour(
                job_phase="Failed",
                cluster_phase="Unavailable",
                reason="subnet has no free IP addresses",
            ),
            "batch-04": Behaviour(cluster_phase="Unavailable", reason="kube-apiserver crashed"),
            "batch-07": Behaviour(duration=20.0),
        },
    )


async def test_batch_across_projects_matches_what_the_simulator_did(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """Every cluster's report entry agrees with the simulator's own ledger."""
    sim.cce.seed_cluster("proj-db", "db-01")
    names = {
        "proj-web": [f"web-{i:02d}" for i in range(1, 11)],
        "proj-db": [f"db-{i:02d}" for i in range(1, 8)],
        "proj-batch": [f"batch-{i:02d}" for i in range(1, 10)],
    }
    plan = build_plan(manifest_dict(names, settings=FAST, endpoint=sim.url))
    report_path = tmp_path / "report.json"

    result = await run_batch(plan, report_path, auth_factory=lambda: TokenAuth("sim-token"))

    written = json.loads(report_path.read_text())
    assert written["summary"] == {
        "created": 21,
        "existing": 1,
        "failed": 3,
        "timed_out": 1,
        "rejected": 0,
        "not_started": 0,
        "interrupted": 0,
        "total": 26,
    }
    assert result.exit_code == 1
    assert written["exitCode"] == 1
    expected_failures = {"web-03": "Error", "db-02": "Unavailable", "batch-04": "Unavailable"}

    async with aiohttp.ClientSession() as session, session.get(sim.url + LEDGER_PATH) as answer:
        ledger = await answer.json()
    truth = {(c["project"], c["name"]): c for c in ledger["clusters"]}
    calls = {(c["project"], c["name"]): c["calls"] for c in ledger["createCalls"]}
    assert len(written["clusters"]) == 26
    for entry in written["clusters"]:
        key = (entry["project"], entry["name"])
        real = truth[key]
        assert entry["clusterId"] == real["uid"], key
        name = entry["name"]
        if name == "db-01":
            assert entry["outcome"] == "existing"
            assert key not in calls
            continue
        assert calls[key] == 1, key
        assert entry["jobId"] == real["jobId"]
        if name in expected_failures:
            assert entry["outcome"] == "failed"
            assert entry["clusterPhase"] == expected_failures[name] == real["phase"]
            assert entry["reason"]
        elif name == "batch-07":
            assert entry["outcome"] == "timed_out"
            assert real["jobPhase"] in ("Initializing", "Running")
            assert entry["reason"] == "still Creating after 3s"
            assert entry["clusterPhase"] == "Creating"
        else:
            assert entry["outcome"] == "created", entry
            assert real["phase"] == entry["clusterPhase"] == "Available"
            assert real["jobPhase"] == "Success"
            # Seen Available in the project's list: its job was never read.
            assert entry["jobPhase"] is None
            assert entry["polls"] == 0
            assert entry["submittedAt"] <= entry["acceptedAt"] <= entry["terminalAt"]
            assert entry["acceptToTerminalSeconds"] >= 0.29  # jobs last 0.4s ± 25%


async def test_a_wrong_token_sends_no_create_and_exits_3(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """Credentials the service rejects stop the run before any create: exit code 3."""
    plan = build_plan(
        manifest_dict({"proj-x": ["xray-01", "xray-02"]}, settings=FAST, endpoint=sim.url)
    )
    result = await run_batch(plan, tmp_path / "r.json", auth_factory=lambda: TokenAuth("nope"))
    assert result.exit_code == 3
    assert sim.cce.requests["create"] == 0
    assert sim.cce.requests["list"] == 1
    assert {c.outcome for c in result.report.clusters} == {Outcome.NOT_STARTED}


async def test_simulated_run_keeps_one_rate_limit_per_original_endpoint(tmp_path: Path) -> None:
    """--simulate points every project at one loopback server but keeps per-endpoint limits."""
    from batchcreate.app import SimulateOptions

    manifest = manifest_dict(
        {"p-north": [f"north-{i:02d}" for i in range(6)]}, settings={"rateLimit": 20}
    )
    manifest["projects"] += manifest_dict(
        {"p-south": [f"south-{i:02d}" for i in range(6)]}, region="ap-southeast-1"
    )["projects"]
    plan = build_plan(manifest)
    result = await run_batch(
        plan,
        tmp_path / "sim.json",
        simulate=SimulateOptions(job_duration=0.3, seed=5, time_scale=0.002),
        auth_factory=lambda: TokenAuth("unused"),
    )
    report = result.report
    assert report.simulated is True
    assert report.summary.created == 12
    endpoints = {c.endpoint for c in report.clusters}
    assert endpoints == {
        "https://cce.cn-north-4.myhuaweicloud.com",
        "https://cce.ap-southeast-1.myhuaweicloud.com",
    }
    assert report.settings["timeScale"] == 0.002
    assert report.settings["poll"]["initialDelay"] == pytest.approx(0.3)
    assert report.settings["timeout"] == pytest.approx(3.6)
