"""Idle-CPU benchmark: what a batch costs while its clusters wait behind a slow rate limit.

Run it from the project's root (about 30 s with the defaults)::

    .venv/bin/python benchmarks/idle.py [--clusters 10000] [--rate 1] [--window 20] [--json]

What runs: the simulator in its own process (``benchmarks/throughput.py serve``), and
``batchcreate run`` (``python -m batchcreate``) on a generated manifest of ``--clusters``
clusters in ``--projects`` projects (default 1) with ``rateLimit`` ``--rate`` (default 1/s),
``maxInFlight`` and ``maxInFlightPerProject`` as large as the fleet, so that every cluster
is admitted and waits in the endpoint's limiter: the queue is as long as it can be. Once the
simulator has seen the first create, and ``--settle`` seconds more (default 2 s), the
client's CPU time (``utime + stime`` from ``/proc/PID/stat``) is read at both ends of a
``--window``-second wall window (default 20 s). Printed: CPU seconds in the window, % of
one core (target: below 1 %), the calls the simulator received in the window (at most
``rate x window``, give or take one), and the client's resident memory. Then the run is
stopped with SIGTERM (it exits 143 and writes its report as ``interrupted``).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

try:
    from benchmarks.manifests import fleet_manifest, write_manifest
    from benchmarks.throughput import (
        CALLS_PATH,
        FIRST_CREATE,
        ROOT,
        TOKEN,
        Simulator,
        child_env,
        simulator,
    )
except ModuleNotFoundError:  # run as a script: benchmarks/ itself is on sys.path
    from manifests import fleet_manifest, write_manifest  # type: ignore[no-redef, import-not-found]
    from throughput import (  # type: ignore[no-redef, import-not-found]
        CALLS_PATH,
        FIRST_CREATE,
        ROOT,
        TOKEN,
        Simulator,
        child_env,
        simulator,
    )

DEFAULT_CLUSTERS = 10_000
DEFAULT_RATE = 1.0
DEFAULT_WINDOW = 20.0
DEFAULT_SETTLE = 2.0
#: How long the run may take to send its first create before the benchmark gives up.
START_TIMEOUT = 120.0
#: How long the run may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 60.0
TARGET_SHARE = 0.01
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far, from ``/proc/PID/stat``."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name (which may hold spaces) start at the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """The process's resident memory now and at its peak (``VmRSS``, ``VmHWM``), in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class IdleResult:
    clusters: int
    projects: int
    rate: float
    window: float
    cpu: float
    calls_in_window: int
    calls_before: int
    rss_mb: float
    peak_rss_mb: float
    #: None when it did not exit within ``STOP_TIMEOUT`` of SIGTERM and was killed.
    exit_code: int | None
    stop_seconds: float
    report_state: str | None

    @property
    def share(self) -> float:
        return self.cpu / self.window

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"coreShare": round(self.share, 5)}


def _arrivals(sim: Simulator) -> list[float]:
    arrivals: list[float] = sim.get(CALLS_PATH)["arrivals"]
    return arrivals


def _wait_for_first_create(sim: Simulator, proc: subprocess.Popen[bytes]) -> None:
    """Return once the simulator says a create arrived; fail if the run ends or stalls."""
    out = sim.proc.stdout
    assert out is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        # Wake on the simulator's line, or every second to see whether the run died.
        ready, _, _ = select.select([out], [], [], 1.0)
        if ready:
            line = out.readline()
            if line.strip() == FIRST_CREATE:
                return
            if not line:
                raise RuntimeError("the simulator exited")
        elif proc.poll() is not None:
            raise RuntimeError(f"batchcreate exited {proc.returncode} before its first create")
    raise RuntimeError(f"no create within {START_TIMEOUT:g}s")


def _stop(proc: subprocess.Popen[bytes]) -> tuple[int | None, float]:
    """SIGTERM, as a scheduler would send; its exit code (None if it had to be killed after
    ``STOP_TIMEOUT``) and how long it took to exit."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None
    return code, time.monotonic() - started


def measure_idle(
    clusters: int, projects: int, rate: float, window: float, settle: float, workdir: Path
) -> IdleResult:
    with simulator(job_duration=0.5) as sim:
        manifest = fleet_manifest(
            clusters,
            projects,
            rate=rate,
            endpoint=sim.url,
            max_in_flight=clusters,
            max_in_flight_per_project=clusters,
            name="idle",
        )
        path = write_manifest(manifest, workdir / "idle.yaml")
        report = workdir / "idle-report.json"
        argv = [sys.executable, "-m", "batchcreate", "run", str(path), "--report", str(report)]
        with (workdir / "idle-stderr.log").open("w") as err:
            proc = subprocess.Popen(
                [*argv, "--no-progress"],
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=ROOT,
                env=child_env({"BATCHCREATE_TOKEN": TOKEN}),
            )
            try:
                _wait_for_first_create(sim, proc)
                time.sleep(settle)  # let the run settle into waiting
                start_wall, start_cpu = time.monotonic(), cpu_seconds(proc.pid)
                time.sleep(window)  # the measurement window itself
                end_wall, end_cpu = time.monotonic(), cpu_seconds(proc.pid)
                rss, peak = memory_mb(proc.pid)
            finally:
                code, stop_seconds = _stop(proc)
        arrivals = _arrivals(sim)
    state = json.loads(report.read_text()).get("state") if report.exists() else None
    return IdleResult(
        clusters=clusters,
        projects=len(manifest["projects"]),
        rate=rate,
        window=end_wall - start_wall,
        cpu=end_cpu - start_cpu,
        calls_in_window=sum(1 for t in arrivals if start_wall <= t < end_wall),
        calls_before=sum(1 for t in arrivals if t < start_wall),
        rss_mb=rss,
        peak_rss_mb=peak,
        exit_code=code,
        stop_seconds=stop_seconds,
        report_state=state,
    )


def render(result: IdleResult) -> str:
    verdict = "meets" if result.share < TARGET_SHARE else "MISSES"
    stopped = f"exit {result.exit_code}" if result.exit_code is not None else "KILLED (no exit)"
    return "\n".join(
        [
            f"{result.clusters:,} clusters in {result.projects} project(s) queued behind "
            f"{result.rate:g} call/s",
            f"  window            {result.window:.1f} s (after {result.calls_before} calls)",
            f"  client CPU        {result.cpu:.2f} s = {result.share:.2%} of a core   "
            f"target < {TARGET_SHARE:.0%}: {verdict}",
            f"  calls in window   {result.calls_in_window} "
            f"(limit allows {result.rate * result.window:.0f})",
            f"  client RSS        {result.rss_mb:.0f} MB now, {result.peak_rss_mb:.0f} MB peak",
            f"  stopped (SIGTERM) {stopped} after {result.stop_seconds:.1f} s, report "
            f"{result.report_state}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=DEFAULT_CLUSTERS, metavar="N")
    parser.add_argument("--projects", type=int, default=1, metavar="P")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="calls/s (default 1)")
    parser.add_argument("--window", type=float, default=DEFAULT_WINDOW, metavar="S")
    parser.add_argument("--settle", type=float, default=DEFAULT_SETTLE, metavar="S")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--workdir", type=Path, help="keep the manifest, report and log here")
    args = parser.parse_args(argv)
    if args.clusters < 1 or args.projects < 1 or args.rate <= 0 or args.window <= 0:
        parser.error("--clusters, --projects, --rate and --window must be positive")
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = measure_idle(
            args.clusters, args.projects, args.rate, args.window, args.settle, workdir
        )
    print(json.dumps(result.to_json(), indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
