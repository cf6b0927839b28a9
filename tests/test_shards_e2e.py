"""Many runners: shards as concurrent processes against one simulator, then a merge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import manifest_dict, read_ledger, simulator_process

ROOT = Path(__file__).resolve().parent.parent
FAST = {
    "rateLimit": 50,
    "maxInFlightPerProject": 4,
    "timeout": "60s",
    "poll": {"initialDelay": "0.4s", "interval": "0.2s", "maxInterval": "0.4s"},
}


@pytest.fixture
def simulators() -> Iterator[list[str]]:
    """Two simulator processes: one for the shards, one for a single unsharded run."""
    args = ("--job-duration", "0.5s", "--token", "shard-token")
    with simulator_process(*args) as sharded, simulator_process(*args) as single:
        yield [sharded, single]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "batchcreate", *args, "--log-level", "error"]


def test_concurrent_shards_match_a_single_run_without_duplicates(
    simulators: list[str], tmp_path: Path
) -> None:
    """Three shard processes at once (one retried), merged: the same outcomes as one
    unsharded run, every cluster once, none created twice."""
    names = {f"proj-{p}": [f"c-{p}-{i:02d}" for i in range(4)] for p in range(6)}
    env = {k: v for k, v in os.environ.items() if k != "BATCHCREATE_TOKEN"}
    env["BATCHCREATE_TOKEN"] = "shard-token"
    sharded, single = simulators
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(manifest_dict(names, settings=FAST, endpoint=sharded)))
    shards = [
        subprocess.Popen(
            command(
                "run",
                str(fleet),
                "--shard",
                f"{i}/3",
                "--report",
                str(tmp_path / f"shard-{i}.json"),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for i in range(3)
    ]
    for proc in shards:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    retried = subprocess.run(  # a retried shard converges, creating nothing new
        command("run", str(fleet), "--shard", "0/3", "--report", str(tmp_path / "shard-0b.json")),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert retried.returncode == 0
    merged_path = tmp_path / "fleet.json"
    merged = subprocess.run(
        command(
            "report",
            "merge",
            *(str(tmp_path / f"shard-{i}.json") for i in range(3)),
            str(tmp_path / "shard-0b.json"),
            "-o",
            str(merged_path),
        ),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert merged.returncode == 0, merged.stderr

    parts = [json.loads((tmp_path / f"shard-{i}.json").read_text()) for i in range(3)]
    projects = [{c["project"] for c in part["clusters"]} for part in parts]
    assert all(projects)
    assert set.union(*projects) == set(names)
    assert sum(len(p) for p in projects) == len(names)  # disjoint
    fleet_report = json.loads(merged_path.read_text())
    assert fleet_report["summary"]["total"] == 24
    assert fleet_report["summary"]["created"] == 24

    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(manifest_dict(names, settings=FAST, endpoint=single)))
    alone = subprocess.run(
        command("run", str(one), "--report", str(tmp_path / "single.json")),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert alone.returncode == 0
    single_report = json.loads((tmp_path / "single.json").read_text())
    outcome_of = {(c["project"], c["name"]): c["outcome"] for c in single_report["clusters"]}
    assert {(c["project"], c["name"]): c["outcome"] for c in fleet_report["clusters"]} == outcome_of

    truth = read_ledger(sharded)
    assert len(truth["clusters"]) == 24
    assert {c["created"] for c in truth["createCalls"]} == {1}


def test_schema_command_prints_the_committed_schemas() -> None:
    """batchcreate schema manifest|report prints exactly the files under schemas/."""
    for name in ("manifest", "report"):
        done = subprocess.run(
            command("schema", name), capture_output=True, text=True, cwd=ROOT, timeout=60
        )
        assert done.returncode == 0
        assert done.stdout == (ROOT / "schemas" / f"{name}.schema.json").read_text()


def test_a_bad_shard_is_a_usage_error(tmp_path: Path) -> None:
    """--shard 3/3 is refused with the 0-based hint, exit 2."""
    done = subprocess.run(
        command("run", str(ROOT / "jobs" / "demo.yaml"), "--shard", "3/3"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert "shards count from 0, so the last of 3 is 2/3" in done.stderr
