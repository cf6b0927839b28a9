"""Whole runs as processes that are stopped or killed: signals, crash and rerun, the lock.

The simulator runs as its own process (``batchcreate simulate``) so that it outlives the
runs and its ledger is the ground truth across them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import manifest_dict, read_ledger, simulator_process

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def simulator() -> Iterator[str]:
    """A simulator process with jobs long enough to interrupt; yields its URL."""
    with simulator_process("--job-duration", "2s", "--seed", "3") as url:
        yield url


def write_manifest(tmp_path: Path, url: str, count: int, per_project: int = 4) -> Path:
    names = {
        "proj-a": [f"alpha-{i:02d}" for i in range(count // 2)],
        "proj-b": [f"beta-{i:02d}" for i in range(count - count // 2)],
    }
    settings = {
        "rateLimit": 50,
        "maxInFlightPerProject": per_project,
        "timeout": "60s",
        "poll": {"initialDelay": "0.5s", "interval": "0.2s", "maxInterval": "0.5s"},
    }
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(manifest_dict(names, settings=settings, endpoint=url)))
    return path


def start_run(manifest: Path, report: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "BATCHCREATE_TOKEN"}
    env["BATCHCREATE_TOKEN"] = "any-token"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batchcreate",
            "run",
            str(manifest),
            "--report",
            str(report),
            "--log-format",
            "json",
            "--log-level",
            "info",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def wait_for_events(proc: subprocess.Popen[str], event: str, count: int) -> list[dict[str, Any]]:
    """Read the run's JSON log lines until ``count`` events named ``event`` were logged."""
    assert proc.stderr is not None
    seen: list[dict[str, Any]] = []
    for line in proc.stderr:
        record = json.loads(line)
        if record.get("event") == event:
            seen.append(record)
            if len(seen) == count:
                return seen
    raise AssertionError(f"the run ended after {len(seen)} {event} events")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_creates_and_leaves_an_interrupted_report(
    simulator: str, tmp_path: Path, signum: int, code: int
) -> None:
    """SIGTERM/SIGINT: exit 143/130, accepted clusters interrupted with their ids, nothing
    sent after the signal."""
    manifest = write_manifest(tmp_path, simulator, count=16)
    report = tmp_path / "report.json"
    proc = start_run(manifest, report)
    wait_for_events(proc, "cluster.accepted", 3)
    proc.send_signal(signum)
    proc.communicate(timeout=60)
    assert proc.returncode == code

    data = json.loads(report.read_text())
    assert data["state"] == "interrupted"
    assert data["exitCode"] == code
    assert len(data["clusters"]) == 16
    sent = [c for c in data["clusters"] if c["attempts"] > 0]
    interrupted = [c for c in data["clusters"] if c["outcome"] == "interrupted"]
    assert len(interrupted) >= 1
    for cluster in interrupted:
        assert cluster["clusterId"], cluster
        assert cluster["jobId"], cluster
    unsent = [c for c in data["clusters"] if c["attempts"] == 0]
    assert {c["outcome"] for c in unsent} <= {"not_started"}
    truth = read_ledger(simulator)
    assert sum(c["calls"] for c in truth["createCalls"]) == sum(c["attempts"] for c in sent)


def test_a_second_sigint_exits_at_once_with_a_valid_report(simulator: str, tmp_path: Path) -> None:
    """Ctrl-C twice: the run leaves at once, and the report on disk is still valid JSON."""
    manifest = write_manifest(tmp_path, simulator, count=16)
    report = tmp_path / "report.json"
    proc = start_run(manifest, report)
    wait_for_events(proc, "cluster.accepted", 2)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    data = json.loads(report.read_text())
    assert data["batch"] == "test-batch"
    assert len(data["clusters"]) == 16


def test_killed_runs_converge_on_rerun_without_duplicates(simulator: str, tmp_path: Path) -> None:
    """kill -9 at several points, then a rerun: every cluster exists once, none twice."""
    manifest = write_manifest(tmp_path, simulator, count=14, per_project=3)
    report = tmp_path / "report.json"
    for accepted_before_kill in (1, 4, 7):
        proc = start_run(manifest, report)
        wait_for_events(proc, "cluster.accepted", accepted_before_kill)
        proc.kill()
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        checkpoint = json.loads(report.read_text())  # a kill -9 leaves a valid report
        assert len(checkpoint["clusters"]) == 14
        assert checkpoint["state"] == "running"
        # Sends and acceptances are checkpointed too: what was in flight says so.
        in_flight = [c for c in checkpoint["clusters"] if c["outcome"] == "interrupted"]
        assert in_flight
        # Sent by this run, or found by it (a rerun follows what an earlier run created).
        assert all(c["attempts"] >= 1 or c["clusterId"] for c in in_flight)

    final = start_run(manifest, report)
    final.communicate(timeout=120)
    assert final.returncode == 0
    data = json.loads(report.read_text())
    assert data["state"] == "finished"
    assert {c["outcome"] for c in data["clusters"]} <= {"created", "existing"}
    truth = read_ledger(simulator)
    created = {(c["project"], c["name"]): c["created"] for c in truth["createCalls"]}
    assert len(created) == 14
    assert set(created.values()) == {1}
    assert len(truth["clusters"]) == 14


def test_an_overlapping_run_on_the_same_report_exits_75(simulator: str, tmp_path: Path) -> None:
    """A second run on a report path another run is using refuses to start."""
    manifest = write_manifest(tmp_path, simulator, count=8)
    report = tmp_path / "report.json"
    first = start_run(manifest, report)
    wait_for_events(first, "cluster.accepted", 1)
    second = start_run(manifest, report)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 75
    assert "another batchcreate run (pid" in err
    first.communicate(timeout=120)
    assert first.returncode == 0
