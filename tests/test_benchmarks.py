"""The scheduling benchmark still runs: tiny fleets, every scenario, no performance targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.schedule import (
    SCENARIOS,
    Fleet,
    Project,
    Scenario,
    lower_bound,
    make_fleet,
    run_one,
)
from benchmarks.terraform_model import TfCluster, TfLimit, simulate_terraform

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("key", sorted(SCENARIOS))
def test_each_scenario_completes_at_or_above_its_lower_bound(key: str) -> None:
    """6 clusters in 2 projects: all created once, makespan ≥ bound, Terraform model ran."""
    row = run_one(SCENARIOS[key], 6, projects=2, seed=1)
    assert row.batchcreate.outcomes == {"created": 6}
    assert row.bound.value > 0
    assert row.ratio >= 1.0
    assert row.batchcreate.calls_per_cluster["create"] >= 1.0
    assert row.batchcreate.detection_p95 is not None
    assert row.extra["duplicates"] == 0
    assert row.terraform.makespan > 0
    assert sum(row.terraform.outcomes.values()) == 6


def test_the_benchmark_is_deterministic() -> None:
    """The same seed gives the same figures."""
    first, second = (run_one(SCENARIOS["c"], 6, projects=2, seed=7) for _ in range(2))
    assert first.to_json() | {"wallSeconds": 0, "cpuSeconds": 0} == second.to_json() | {
        "wallSeconds": 0,
        "cpuSeconds": 0,
    }


def test_fleet_spreads_projects_over_two_regions() -> None:
    fleet = make_fleet(7, 3, seed=1)
    assert [len(p.names) for p in fleet.projects] == [3, 2, 2]
    assert fleet.regions() == ["cn-north-4", "ap-southeast-1"]
    assert all(180.0 <= d <= 2700.0 for d in fleet.durations.values())


def test_lower_bound_follows_the_documented_formula() -> None:
    """Longest jobs on the earliest create slots (after one list); budget n + 2P calls (a
    list before the creates and one after the last job of each project). The in-order
    reference sends the creates in manifest order."""
    fleet = Fleet((Project("p", "cn-north-4", ("aaaa", "bbbb")),), {"aaaa": 50.0, "bbbb": 100.0})
    free = Scenario("x", "1/s", 1.0)
    bound = lower_bound(fleet, free)
    assert (bound.critical, bound.budget, bound.value) == (101.0, 3.0, 101.0)
    assert bound.in_order == 102.0  # bbbb, the longer job, goes second: 2 + 100
    # A server at 0.5/s with a bucket of 1: the j-th call no sooner than 2j.
    tight = Scenario("y", "server 0.5/s", 1.0, server_rate=0.5, server_burst=1)
    bound = lower_bound(fleet, tight)
    assert (bound.critical, bound.budget, bound.in_order) == (102.0, 6.0, 104.0)


def test_terraform_model_polls_every_20s_after_150s() -> None:
    """One 480 s job, no latency: job polls at 150, 170, ..., 490, then one cluster read."""
    result = simulate_terraform(
        [TfCluster("solo", "e", 480.0)], {}, timeout=3600.0, latency=(0.0, 0.0)
    )
    assert dict(result.calls) == {"create": 1, "job": 18, "cluster": 1}
    assert result.makespan == pytest.approx(490.0)
    assert result.detection == [pytest.approx(10.0)]
    assert dict(result.outcomes) == {"created": 1}


def test_terraform_model_runs_ten_at_a_time() -> None:
    """The eleventh resource starts when the first one ends."""
    clusters = [TfCluster(f"c{i:02d}", "e", 480.0) for i in range(11)]
    result = simulate_terraform(clusters, {}, timeout=3600.0, latency=(0.0, 0.0))
    assert result.makespan == pytest.approx(980.0)
    assert result.outcomes["created"] == 11


def test_terraform_model_gives_up_after_five_throttled_retries() -> None:
    """A server that refuses nearly everything: six 429s in a row fail the resource."""
    clusters = [TfCluster("first", "e", 300.0), TfCluster("second", "e", 300.0)]
    result = simulate_terraform(
        clusters, {"e": TfLimit(rate=1e-6, burst=1)}, timeout=7200.0, latency=(0.0, 0.0)
    )
    assert dict(result.outcomes) == {"failed": 2}
    # The first create got the one token; every other call was refused, 6 times each.
    assert dict(result.calls) == {"create": 7, "job": 6}
    assert result.throttled == 12
    assert result.makespan == pytest.approx(150.0 + 1860.0)


def test_the_script_runs_as_documented() -> None:
    """``python benchmarks/schedule.py --json`` from the project's root, on a tiny fleet."""
    done = subprocess.run(
        [sys.executable, "benchmarks/schedule.py", "--sizes", "6", "--projects", "2", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert [(r["scenario"], r["size"]) for r in rows] == [("a", 6), ("b", 6), ("c", 6)]
    assert all(r["ratio"] >= 1.0 for r in rows)
    assert all(r["batchcreate"]["outcomes"] == {"created": 6} for r in rows)
