"""Shards: ``I/N`` parsing, and a disjoint, complete, stable, balanced split by project."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from batchcreate.app import execute, simulated_plan
from batchcreate.auth import NoAuth
from batchcreate.clock import VirtualClock
from batchcreate.endpoints import cce_endpoint
from batchcreate.manifest import build_plan
from batchcreate.plan import BatchPlan, ClusterPlan, ProjectPlan
from batchcreate.report import RunState
from batchcreate.settings import Settings
from batchcreate.shard import Shard, assign, parse_shard, project_key, select
from batchcreate.simulator.fake_cce import FakeCce, SimulatorConfig
from batchcreate.simulator.memory import InMemoryTransport
from tests.conftest import manifest_dict

ROOT = Path(__file__).resolve().parent.parent


def project(pid: str, size: int, region: str = "cn-north-4") -> ProjectPlan:
    """A project of ``size`` clusters (bodies are not needed to place it)."""
    clusters = tuple(
        ClusterPlan.of(f"{pid}-c{i:03d}", {}, f"projects[{pid}].clusters[{i}]") for i in range(size)
    )
    return ProjectPlan(
        id=pid, region=region, endpoint=cce_endpoint(region), clusters=clusters, location=pid
    )


def plan_of(*projects: ProjectPlan) -> BatchPlan:
    return BatchPlan(name="fleet", settings=Settings(), projects=projects)


def sized(sizes: list[int]) -> BatchPlan:
    return plan_of(*(project(f"p{i:03d}", n) for i, n in enumerate(sizes)))


def clusters_in(plan: BatchPlan) -> int:
    return sum(len(p.clusters) for p in plan.projects)


# ---- parsing ------------------------------------------------------------------------------


def test_parse_shard_reads_index_of_count_from_zero() -> None:
    """``0/4`` and `` 3 / 4 `` are shards 0 and 3 of 4, shown and reported as such."""
    assert parse_shard("0/4") == Shard(0, 4)
    shard = parse_shard(" 3 / 4 ")
    assert shard == Shard(3, 4)
    assert str(shard) == "3/4"
    assert shard.to_report() == {"index": 3, "count": 4}
    assert parse_shard("0/1") == Shard(0, 1)


@pytest.mark.parametrize("text", ["", "1", "1/", "/4", "a/b", "-1/4", "1.0/4", "1/4/2", "1 of 4"])
def test_malformed_shard_says_how_to_write_one(text: str) -> None:
    """Anything not ``I/N`` in whole numbers is refused with the form and an example."""
    with pytest.raises(ValueError, match=r"a shard is written I/N, such as 0/4"):
        parse_shard(text)


def test_index_equal_to_count_hints_that_shards_count_from_zero() -> None:
    """``4/4`` is the classic off-by-one: the message names 3/4 as the last shard."""
    with pytest.raises(
        ValueError, match=r"use 0 to 3; shards count from 0, so the last of 4 is 3/4"
    ):
        parse_shard("4/4")


def test_out_of_range_and_zero_counts_are_refused() -> None:
    """An index past the count, and a count of zero, are clear errors."""
    with pytest.raises(ValueError, match=r"shard 7/4 does not exist: use 0 to 3$"):
        parse_shard("7/4")
    with pytest.raises(ValueError, match="the number of shards must be at least 1, got 0"):
        parse_shard("0/0")


# ---- partitioning -------------------------------------------------------------------------


@pytest.mark.parametrize("count", range(1, 9))
def test_shards_are_disjoint_and_complete(count: int) -> None:
    """Over I = 0..N-1 every project and cluster lands in exactly one shard."""
    plan = sized([7, 1, 3, 3, 12, 2, 5, 1, 1, 4, 9, 2, 6])
    parts = [select(plan, Shard(i, count)) for i in range(count)]
    ids = [p.id for part in parts for p in part.projects]
    assert sorted(ids) == sorted(p.id for p in plan.projects)
    assert len(ids) == len(set(ids))
    assert sum(clusters_in(part) for part in parts) == clusters_in(plan)


def test_select_keeps_manifest_order_and_everything_else() -> None:
    """A shard's projects keep their manifest order; name and settings are the plan's."""
    plan = dataclasses.replace(sized([3, 1, 4, 1, 5, 9, 2, 6]), source_dir=Path("/m"))
    for index in range(3):
        part = select(plan, Shard(index, 3))
        order = [plan.projects.index(p) for p in part.projects]
        assert order == sorted(order)
        assert (part.name, part.settings, part.source_dir) == ("fleet", Settings(), Path("/m"))


def test_project_key_is_sha256_of_endpoint_and_id() -> None:
    """The digest is pinned: sha256 of ``endpoint/id``, so any version of any process agrees."""
    key = project_key(project("alpha", 1))
    assert key == "b638e7e8715d0b87a1533d9b03387f0586e584a301c6ce6a85859615bfd10e0e"


def test_assignment_is_pinned_for_a_known_manifest() -> None:
    """Changing the placement rule would split one fleet differently across versions: pinned."""
    plan = plan_of(
        project("alpha", 5),
        project("bravo", 3),
        project("charlie", 3),
        project("delta", 2),
        project("echo", 2),
        project("foxtrot", 1, "ap-southeast-1"),
    )
    shards = [[p.id for p in select(plan, Shard(i, 3)).projects] for i in range(3)]
    assert shards == [["alpha", "foxtrot"], ["bravo", "echo"], ["charlie", "delta"]]


def test_assignment_ignores_the_order_of_projects_in_the_manifest() -> None:
    """Reordering (or reversing) the project list moves no project to another shard."""
    plan = sized([4, 4, 4, 2, 2, 1, 1, 1, 7])
    shuffled = list(plan.projects)
    random.Random(5).shuffle(shuffled)
    for count in (2, 3, 5):
        assert assign(plan.projects, count) == assign(shuffled, count)
        assert assign(plan.projects, count) == assign(reversed(plan.projects), count)


def test_assignment_is_the_same_in_other_processes_and_hash_seeds() -> None:
    """Fresh interpreters with different PYTHONHASHSEEDs place every project the same way."""
    script = textwrap.dedent(
        """
        import json, sys
        from batchcreate.manifest import build_plan
        from batchcreate.shard import assign
        from tests.conftest import manifest_dict
        names = {f"team-{i}": [f"team-{i}-c{j:02d}" for j in range(i % 4 + 1)] for i in range(9)}
        plan = build_plan(manifest_dict(names))
        print(json.dumps(assign(plan.projects, 4), sort_keys=True))
        """
    )
    names = {f"team-{i}": [f"team-{i}-c{j:02d}" for j in range(i % 4 + 1)] for i in range(9)}
    expected = assign(build_plan(manifest_dict(names)).projects, 4)
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, check=True
        )
        assert json.loads(out.stdout) == expected, f"PYTHONHASHSEED={seed}"


@pytest.mark.parametrize("seed", range(20))
def test_shards_are_balanced(seed: int) -> None:
    """Cluster counts differ by at most the largest project; no shard idles while one doubles."""
    rng = random.Random(seed)
    sizes = [rng.choice([1, 1, 2, 3, 5, 8, 20]) for _ in range(rng.randint(1, 40))]
    plan = sized(sizes)
    for count in (2, 3, 4, 7, 16):
        parts = [select(plan, Shard(i, count)) for i in range(count)]
        loads = [clusters_in(part) for part in parts]
        assert max(loads) - min(loads) <= max(sizes), (sizes, count, loads)
        members = [len(part.projects) for part in parts]
        if len(sizes) >= count:
            assert min(members) >= 1, (sizes, count, members)


def test_equal_projects_spread_evenly_by_count() -> None:
    """Projects of one size are dealt like cards: shard project counts differ by at most one."""
    plan = sized([3] * 23)
    members = [len(select(plan, Shard(i, 5)).projects) for i in range(5)]
    assert sorted(members) == [4, 4, 5, 5, 5]


def test_same_project_id_at_two_endpoints_is_two_projects() -> None:
    """A project id is only unique per endpoint, so the key includes the endpoint."""
    east, west = project("shared", 2, "cn-north-4"), project("shared", 2, "ap-southeast-1")
    assert project_key(east) != project_key(west)
    placed = assign([east, west], 2)
    assert sorted(placed.values()) == [0, 1]


def test_simulated_plan_is_split_like_the_manifest() -> None:
    """Under --simulate the endpoint becomes the simulator's; the split must not change."""
    plan = build_plan(
        manifest_dict({f"proj-{i}": [f"clus-{i}-a", f"clus-{i}-b"] for i in range(6)})
    )
    simulated = simulated_plan(plan, "http://127.0.0.1:40123", 0.01)
    for index in range(4):
        want = [p.id for p in select(plan, Shard(index, 4)).projects]
        assert [p.id for p in select(simulated, Shard(index, 4)).projects] == want


async def test_an_empty_shard_runs_cleanly_and_reports_nothing() -> None:
    """More shards than projects leaves some empty; running one creates nothing and exits 0."""
    plan = build_plan(manifest_dict({"proj-a": ["alpha-one"], "proj-b": ["beta-one"]}))
    parts = [select(plan, Shard(i, 4)) for i in range(4)]
    assert sorted(len(p.projects) for p in parts) == [0, 0, 1, 1]
    empty = next(p for p in parts if not p.projects)
    clock = VirtualClock()
    cce = FakeCce(SimulatorConfig(job_duration=60.0, duration_jitter=0.0), clock=clock)
    result = await clock.run(execute(empty, InMemoryTransport(cce), NoAuth(), clock))
    assert result.exit_code == 0
    assert result.report.state is RunState.FINISHED
    assert result.report.clusters == []
    assert cce.create_calls.total() == 0


def test_assign_refuses_zero_shards() -> None:
    """``assign`` with no shards at all is a clear error, not an empty mapping."""
    with pytest.raises(ValueError, match="at least 1"):
        assign(sized([1]).projects, 0)
