"""Checkpoints during a run, the run lock, and stopping a run: the report survives."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from batchcreate.app import BatchRun
from batchcreate.auth import NoAuth
from batchcreate.checkpoint import Checkpointer
from batchcreate.clock import VirtualClock
from batchcreate.lock import LockedError, run_lock
from batchcreate.manifest import build_plan
from batchcreate.record import ClusterRecord, Mark
from batchcreate.report import Outcome, RunState
from batchcreate.simulator.fake_cce import FakeCce, SimulatorConfig
from batchcreate.simulator.memory import InMemoryTransport
from tests.conftest import manifest_dict


async def test_checkpoints_follow_changes_at_most_once_per_interval() -> None:
    """Many marks in a burst cost one write; a later mark writes again after the interval."""
    clock = VirtualClock()
    written: list[float] = []
    checkpoints = Checkpointer(lambda: written.append(clock.monotonic()), clock, interval=2.0)

    async def scenario() -> None:
        checkpoints.start()
        for _ in range(50):
            checkpoints.mark()
        await clock.sleep(0.5)
        checkpoints.mark()  # within the interval: waits for it
        await clock.sleep(5.0)
        checkpoints.mark()
        await clock.sleep(0.1)
        await checkpoints.stop()

    await clock.run(scenario())
    assert written == [0.0, 2.0, 5.5]


async def test_costly_writes_are_spaced_to_stay_a_small_share_of_the_run() -> None:
    """A write that takes 0.025 s (a large fleet) is followed by a 5 s gap, not 2 s: writing
    stays under 0.5% of the run's time however large the report."""
    clock = VirtualClock()
    written: list[float] = []
    spent = iter(range(100))

    def timer() -> float:
        return next(spent) * 0.025  # each write (two readings) takes 0.025 s

    checkpoints = Checkpointer(
        lambda: written.append(clock.monotonic()), clock, interval=2.0, timer=timer
    )

    async def scenario() -> None:
        checkpoints.start()
        for moment in (0.0, 3.0, 12.0):
            await clock.sleep(moment - clock.monotonic())
            checkpoints.mark()
        await clock.sleep(30.0)
        await checkpoints.stop()

    await clock.run(scenario())
    assert checkpoints.last_write_seconds == pytest.approx(0.025)
    assert checkpoints.gap() == pytest.approx(5.0)
    assert written == [0.0, 5.0, 12.0]


async def test_a_failing_checkpoint_does_not_stop_the_run() -> None:
    """An unwritable checkpoint is logged and skipped."""
    clock = VirtualClock()

    def fail() -> None:
        raise PermissionError(13, "Permission denied")

    checkpoints = Checkpointer(fail, clock)
    checkpoints.write_now()
    assert checkpoints.writes == 1


def test_a_second_lock_on_the_same_report_is_refused(tmp_path: Path) -> None:
    """While one run holds a report's lock, another is refused with the holder's pid."""
    report = tmp_path / "r.json"
    with run_lock(report) as path:
        holder = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from batchcreate.lock import run_lock\n"
                "try:\n    run_lock(Path(sys.argv[1])).__enter__()\n"
                "except Exception as e:\n    print(type(e).__name__, e)\n",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert holder.stdout.startswith("LockedError another batchcreate run (pid ")
        assert path.read_text().strip().isdigit()
    with run_lock(report):  # released when the holder is done
        pass


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    """A lock held by a process killed with SIGKILL does not block the next run."""
    report = tmp_path / "r.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from batchcreate.lock import run_lock\n"
            "with run_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
            str(report),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(LockedError):
        run_lock(report).__enter__()
    proc.kill()
    proc.wait(timeout=10)
    with run_lock(report):
        pass


async def test_stopping_a_run_marks_sent_clusters_interrupted_and_sends_nothing_more(
    tmp_path: Path,
) -> None:
    """After stop(), no create is sent; accepted clusters keep job and cluster ids as
    interrupted, unsent ones are not_started, and the checkpoint file is a valid report."""
    clock = VirtualClock()
    cce = FakeCce(SimulatorConfig(job_duration=600.0, duration_jitter=0.0, seed=2), clock=clock)
    transport = InMemoryTransport(cce)
    plan = build_plan(
        manifest_dict(
            {"p1": [f"c-{i:02d}" for i in range(10)]},
            settings={"maxInFlightPerProject": 3, "rateLimit": 100},
        )
    )
    report_path = tmp_path / "r.json"
    run = BatchRun(plan, transport, NoAuth(), clock, report_path=report_path)

    async def stop_later() -> None:
        await clock.sleep(30.0)
        run.stop("stopped by SIGTERM", 143)

    async def both() -> object:
        stopper = asyncio.ensure_future(stop_later())
        result = await run.run()
        await stopper
        return result

    result = await clock.run(both())
    creates_at_stop = cce.requests["create"]
    assert creates_at_stop == 3
    assert result.exit_code == 143  # type: ignore[attr-defined]
    report = result.report  # type: ignore[attr-defined]
    assert report.state is RunState.INTERRUPTED
    outcomes = [c.outcome for c in report.clusters]
    assert outcomes.count(Outcome.INTERRUPTED) == 3
    assert outcomes.count(Outcome.NOT_STARTED) == 7
    for cluster in report.clusters[:3]:
        assert cluster.outcome is Outcome.INTERRUPTED
        assert cluster.job_id
        assert cluster.cluster_id
        assert cluster.reason.startswith("stopped by SIGTERM while following it (job ")
    assert report.clusters[5].reason == "stopped by SIGTERM before it was sent"
    checkpoint = json.loads(report_path.read_text())
    assert checkpoint["state"] == "running"
    assert len(checkpoint["clusters"]) == 10


def test_report_entries_are_rendered_again_only_when_their_cluster_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Checkpoints rewrite every entry; an unfinished cluster's entry is rendered again
    only after its record changed; a finished one's once, when it finishes."""
    clock = VirtualClock()
    plan = build_plan(manifest_dict({"p1": ["c-one", "c-two", "c-three"]}))
    run = BatchRun(plan, InMemoryTransport(FakeCce(clock=clock)), NoAuth(), clock)
    rendered: list[str] = []
    render = BatchRun._render

    def counting(self: BatchRun, record: ClusterRecord) -> str:
        rendered.append(record.name)
        return render(self, record)

    monkeypatch.setattr(BatchRun, "_render", counting)

    def entries() -> list[dict[str, object]]:
        return [json.loads(t) for t in run.report(RunState.RUNNING).clusters.texts]  # type: ignore[attr-defined]

    first = entries()
    assert rendered == ["c-one", "c-two", "c-three"]
    assert entries() == first
    assert len(rendered) == 3

    two = run.runner.records[1]
    two.submitted = Mark(1.0, clock.time())
    two.cluster_phase = "Creating"
    changed = entries()
    assert rendered[3:] == ["c-two"]
    assert (changed[1]["outcome"], changed[1]["clusterPhase"]) == ("interrupted", "Creating")
    assert changed[0] == first[0]

    two.finish(Outcome.CREATED, Mark(2.0, clock.time()))
    run._changed(two)  # as the runner says it: the finished entry is rendered at once
    assert rendered[4:] == ["c-two"]
    assert entries()[1]["outcome"] == "created"
    assert entries()[1]["outcome"] == "created"
    assert rendered[4:] == ["c-two"]
