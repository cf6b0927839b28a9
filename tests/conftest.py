"""Shared fixtures: manifests, a quiet log configuration, and a simulator on loopback."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from batchcreate.clock import SystemClock
from batchcreate.simulator.fake_cce import FakeCce, SimulatorConfig
from batchcreate.simulator.server import LEDGER_PATH, RunningSimulator, start_simulator

BASE_DEFAULTS: dict[str, Any] = {
    "spec": {
        "type": "VirtualMachine",
        "flavor": "cce.s1.small",
        "hostNetwork": {"vpc": "vpc-1", "subnet": "subnet-1"},
        "containerNetwork": {"mode": "overlay_l2"},
    }
}


def manifest_dict(
    projects: dict[str, list[str]] | None = None,
    *,
    settings: dict[str, Any] | None = None,
    endpoint: str | None = None,
    region: str = "cn-north-4",
) -> dict[str, Any]:
    """A valid manifest: ``projects`` maps project ids to cluster names."""
    projects = projects or {"proj-a": ["alpha-one", "alpha-two"]}
    entries = []
    for pid, names in projects.items():
        entry: dict[str, Any] = {"id": pid, "region": region}
        if endpoint:
            entry["endpoint"] = endpoint
        entry["clusters"] = [{"metadata": {"name": n}} for n in names]
        entries.append(entry)
    return {
        "name": "test-batch",
        "settings": settings or {},
        "defaults": copy.deepcopy(BASE_DEFAULTS),
        "projects": entries,
    }


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    """Keep structlog at warning level so test output stays readable."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=False,
    )
    yield
    structlog.reset_defaults()


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Short jobs that all succeed; tests override as needed."""
    return SimulatorConfig(job_duration=0.3, duration_jitter=0.0, seed=1)


@pytest.fixture
async def sim(sim_config: SimulatorConfig) -> AsyncIterator[RunningSimulator]:
    """The fake CCE served over real HTTP on 127.0.0.1."""
    cce = FakeCce(sim_config, clock=SystemClock())
    running = await start_simulator(cce)
    try:
        yield running
    finally:
        await running.stop()


ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def simulator_process(*args: str) -> Iterator[str]:
    """``batchcreate simulate`` as its own process on a free loopback port; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchcreate", "simulate", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until the server listens
        assert first.startswith("simulator listening on http://127.0.0.1:"), first
        yield first.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def read_ledger(url: str) -> dict[str, Any]:
    """The simulator's ground truth, from its admin path."""
    with urllib.request.urlopen(url + LEDGER_PATH, timeout=10) as answer:
        data: dict[str, Any] = json.load(answer)
    return data
