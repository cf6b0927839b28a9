"""Operating batchcreate: the live progress view under a terminal, log files, dry runs."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import structlog
import yaml
from rich.console import Console

from batchcreate import logs
from batchcreate.clock import VirtualClock
from batchcreate.manifest import build_plan
from batchcreate.plan import BatchPlan
from batchcreate.progress import render, snapshot
from batchcreate.ratelimit import AdaptiveLimiter
from batchcreate.record import ClusterRecord, Mark
from batchcreate.report import Outcome
from tests.conftest import manifest_dict, read_ledger, simulator_process

ROOT = Path(__file__).resolve().parent.parent
FAST = {"timeout": "30m", "poll": {"initialDelay": "20s", "interval": "5s", "maxInterval": "10s"}}


def write(path: Path, plan: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(plan))
    return path


def test_snapshot_counts_outcomes_phases_and_throttling() -> None:
    """The view's numbers: done by outcome, in flight by phase, endpoints throttled or not."""
    plan: BatchPlan = build_plan(manifest_dict({"p1": ["aaaa-1", "bbbb-2", "cccc-3", "dddd-4"]}))
    project = plan.projects[0]
    records = [ClusterRecord(project=project, plan=c) for c in project.clusters]
    records[0].finish(Outcome.CREATED, Mark(1.0, 1.0))
    records[1].submitted = Mark(0.5, 0.5)
    records[1].accepted = Mark(0.6, 0.6)
    records[1].job_phase = "Running"
    records[2].submitted = Mark(0.5, 0.5)
    clock = VirtualClock(start=10.0)
    calm, busy = AdaptiveLimiter(10.0, clock), AdaptiveLimiter(10.0, clock)
    busy.throttled(retry_after=30.0)
    snap = snapshot(
        records,
        {"https://a": calm, "https://b": busy},
        elapsed=4.0,
        now=10.0,
        calls_per_second={"https://a": 2.5},
    )
    assert (snap.total, snap.done) == (4, 1)
    assert snap.outcomes == {"created": 1}
    assert snap.phases == {"Running": 1, "submitting": 1, "queued": 1}
    assert [(e.endpoint, e.throttled) for e in snap.endpoints] == [
        ("https://a", False),
        ("https://b", True),
    ]
    assert snap.eta == 12.0
    assert snap.projects == [("p1", 1, 4)]
    assert render(snap) is not None


def test_the_progress_view_draws_under_a_pseudo_terminal(tmp_path: Path) -> None:
    """With stderr on a terminal, run --simulate draws a live view and still exits 0."""
    path = write(
        tmp_path / "fleet.yaml",
        manifest_dict({"proj-a": [f"alpha-{i:02d}" for i in range(6)]}, settings=FAST),
    )
    report = tmp_path / "r.json"
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "BATCHCREATE_TOKEN"}
    env.update(COLUMNS="120", LINES="40", TERM="xterm")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batchcreate",
            "run",
            str(path),
            "--simulate",
            "--sim-job-duration",
            "0.5s",
            "--report",
            str(report),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=child,
        cwd=ROOT,
        env=env,
    )
    os.close(child)
    drawn = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(main)
    screen = drawn.decode(errors="replace")
    assert proc.returncode == 0, screen
    assert "6/6 clusters" in screen
    assert "outcomes: created 6" in screen
    assert "proj-a" in screen
    assert "Traceback" not in screen
    assert json.loads(report.read_text())["summary"]["created"] == 6
    assert b"report:" in out


def test_without_a_terminal_nothing_is_drawn_and_logs_go_to_the_log_file(tmp_path: Path) -> None:
    """Off a terminal no view is drawn; --log-file takes the JSON log lines."""
    path = write(tmp_path / "fleet.yaml", manifest_dict({"proj-a": ["alpha-01"]}, settings=FAST))
    log_file = tmp_path / "run.log"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "batchcreate",
            "run",
            str(path),
            "--simulate",
            "--sim-job-duration",
            "0.2s",
            "--report",
            str(tmp_path / "r.json"),
            "--log-file",
            str(log_file),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0
    assert done.stderr == ""
    events = [json.loads(line)["event"] for line in log_file.read_text().splitlines()]
    assert "batch.started" in events
    assert "cluster.terminal" in events


def test_log_lines_under_the_live_view_are_one_line_each() -> None:
    """While the view is drawn, each log event is one line on its console: no blank line."""
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream=stream)
    log = structlog.get_logger()

    with logs.route_through(Console(file=stream, width=200)):
        log.info("one")
        log.info("two")
    log.info("three")

    lines = stream.getvalue().split("\n")
    assert [json.loads(line)["event"] for line in lines[:-1]] == ["one", "two", "three"]
    assert lines[-1] == ""


def test_json_log_lines_carry_level_utc_time_and_any_value() -> None:
    """Each JSON line: the event's keys, its level, a UTC timestamp to the microsecond (the
    same second as the clock's), and what JSON cannot show as its repr."""
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream=stream)

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    before = datetime.now(UTC).replace(microsecond=0)
    structlog.get_logger().bind(batch="b").warning("e", n=1, thing=Opaque(), none=None)
    after = datetime.now(UTC)

    line = json.loads(stream.getvalue())
    stamp = line.pop("timestamp")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    assert before <= datetime.fromisoformat(stamp.replace("Z", "+00:00")) <= after
    assert line == {
        "batch": "b",
        "n": 1,
        "thing": "<opaque>",
        "none": None,
        "event": "e",
        "level": "warning",
    }


def test_dry_run_lists_each_project_once_and_creates_nothing(tmp_path: Path) -> None:
    """run --dry-run against a simulator that already has one cluster: one list per
    project, no create, and the plan as JSON."""
    with simulator_process("--token", "t0k") as url:
        env = {k: v for k, v in os.environ.items() if k != "BATCHCREATE_TOKEN"}
        env["BATCHCREATE_TOKEN"] = "t0k"
        first = write(
            tmp_path / "one.yaml",
            manifest_dict({"proj-a": ["alpha-01"]}, settings=FAST, endpoint=url),
        )
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "batchcreate",
                "run",
                str(first),
                "--report",
                str(tmp_path / "r.json"),
                "--poll-initial-delay",
                "3.5s",
                "--log-level",
                "error",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        assert created.returncode == 0, created.stderr
        fleet = write(
            tmp_path / "fleet.yaml",
            manifest_dict(
                {"proj-a": ["alpha-01", "alpha-02"], "proj-b": ["beta-01"]},
                settings=FAST,
                endpoint=url,
            ),
        )
        done = subprocess.run(
            [sys.executable, "-m", "batchcreate", "run", str(fleet), "--dry-run", "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        table = subprocess.run(
            [sys.executable, "-m", "batchcreate", "validate", str(fleet), "--plan"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        ledger = read_ledger(url)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    by_project = {p["project"]: p for p in plan["projects"]}
    assert by_project["proj-a"]["toCreate"] == ["alpha-02"]
    assert by_project["proj-a"]["existing"] == [{"name": "alpha-01", "phase": "Available"}]
    assert by_project["proj-b"]["toCreate"] == ["beta-01"]
    assert (plan["toCreate"], plan["existing"], plan["total"]) == (2, 1, 3)
    assert table.returncode == 0
    assert "batch test-batch: 2 to create, 1 already exist, 3 in all" in table.stdout
    assert ledger["requests"]["create"] == 1
    real_run_lists = json.loads((tmp_path / "r.json").read_text())["calls"]["byKind"]["list"]
    assert real_run_lists >= 2  # one before creating, then the lists that watched the job
    # Beside the real run: one list per project for the dry run and one for validate --plan.
    assert ledger["requests"]["list"] == real_run_lists + 2 + 2
