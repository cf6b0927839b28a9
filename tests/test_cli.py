"""The ``batchcreate`` command end to end, as a subprocess: exit codes, output, report file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import manifest_dict, simulator_process

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "jobs" / "demo.yaml"


def batchcreate(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "BATCHCREATE_TOKEN"}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "batchcreate", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd or ROOT,
        timeout=120,
    )


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


FAST = {"timeout": "30m", "poll": {"initialDelay": "20s", "interval": "5s", "maxInterval": "10s"}}


def test_validate_demo_prints_what_would_be_created() -> None:
    """The demo manifest is valid; validate shows per-project counts and names."""
    done = batchcreate("validate", str(DEMO))
    assert done.returncode == 0, done.stderr
    assert "batch demo-fleet: 44 clusters in 4 projects" in done.stdout
    assert (
        "0605767a3300d5762fb7c0186d9e1779 (cn-north-4, "
        "https://cce.cn-north-4.myhuaweicloud.com): 12 clusters: team-a-dev-01" in done.stdout
    )
    assert "ap-southeast-1" in done.stdout


def test_validate_json_lists_every_cluster() -> None:
    """validate --json gives the plan as data."""
    done = batchcreate("validate", str(DEMO), "--json")
    plan = json.loads(done.stdout)
    assert plan["total"] == 44
    assert [p["count"] for p in plan["projects"]] == [12, 10, 12, 10]
    regions = {p["region"] for p in plan["projects"]}
    assert regions == {"cn-north-4", "ap-southeast-1"}


def test_invalid_manifest_exits_2_with_located_errors_and_no_traceback(tmp_path: Path) -> None:
    """Every problem is one located line on stderr; exit 2; nothing else happens."""
    data = manifest_dict({"proj-a": ["good-one", "Bad_Name"]})
    data["projects"][0]["clusters"][0]["spec"] = {"hostNetwok": {"vpc": "v"}}
    data["settings"] = {"rateLimt": 3}
    path = write(tmp_path / "bad.yaml", data)
    done = batchcreate("validate", str(path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert f"error: {path}: settings.rateLimt: unknown key; did you mean rateLimit?" in lines
    assert (
        f"error: {path}: projects[0].clusters[0] (good-one): spec.hostNetwok: "
        "unknown field; did you mean hostNetwork?"
    ) in lines
    assert any("projects[0].clusters[1] (Bad_Name): metadata.name:" in line for line in lines)
    assert lines[-1] == "3 problems; nothing was sent"
    assert "Traceback" not in done.stderr


def test_run_with_invalid_manifest_leaves_an_existing_report_untouched(tmp_path: Path) -> None:
    """Exit 2 writes no report: an older report at the path stays as it was."""
    report = tmp_path / "report.json"
    report.write_text('{"old": true}')
    path = write(tmp_path / "bad.yaml", {"projects": []})
    done = batchcreate("run", str(path), "--simulate", "--report", str(report))
    assert done.returncode == 2
    assert "projects: must be a non-empty list of projects" in done.stderr
    assert report.read_text() == '{"old": true}'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: [unclosed\n", "invalid YAML"),
        ('{"name": "x",}', "invalid JSON"),
        ('{"name": "x",', "invalid JSON"),
        ("", "the manifest is empty"),
        ("projects:\n  - id: a\n    id: b\n", "repeats the one on line 2"),
    ],
)
def test_unparsable_manifests_exit_2(tmp_path: Path, content: str, message: str) -> None:
    """Parse errors are one clear line with the file and position."""
    path = tmp_path / ("m.json" if content.startswith("{") else "m.yaml")
    path.write_text(content)
    done = batchcreate("validate", str(path))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_manifest_exits_2() -> None:
    """A manifest that does not exist is a usage error."""
    done = batchcreate("validate", "/nonexistent/fleet.yaml")
    assert done.returncode == 2
    assert "error: /nonexistent/fleet.yaml: no such file" in done.stderr


def test_bad_flags_exit_2() -> None:
    """Unknown subcommands and bad flag values are usage errors."""
    assert batchcreate("explode").returncode == 2
    for value in ("0", "nan", "inf"):
        done = batchcreate("run", str(DEMO), "--rate-limit", value)
        assert done.returncode == 2
        assert "must be a finite number greater than 0" in done.stderr
    done = batchcreate("run", str(DEMO), "--simulate", "--timeout", "0")
    assert done.returncode == 2
    assert "must be longer than 0" in done.stderr
    done = batchcreate("run", str(DEMO), "--sim-faults", "throttle=0.5", "--time-scale", "0.1")
    assert done.returncode == 2
    assert "error: --sim-faults: only with --simulate" in done.stderr
    assert "error: --time-scale: only with --simulate" in done.stderr
    done = batchcreate("run", str(DEMO), "--simulate", "--log-file", "/nonexistent/dir/x.log")
    assert done.returncode == 2
    assert "error: --log-file: cannot open /nonexistent/dir/x.log" in done.stderr
    assert "Traceback" not in done.stderr
    done = batchcreate(
        "run", str(DEMO), "--simulate", "--poll-interval", "30s", "--poll-max-interval", "10s"
    )
    assert done.returncode == 2
    assert "--poll-maxInterval: must be at least poll.interval (30s), got 10s" in done.stderr


def test_run_simulate_creates_every_cluster_and_writes_the_report(tmp_path: Path) -> None:
    """run --simulate exits 0 and writes one report entry per manifest cluster."""
    names = {
        "proj-a": [f"alpha-{i:02d}" for i in range(5)],
        "proj-b": [f"beta-{i:02d}" for i in range(4)],
    }
    path = write(tmp_path / "fleet.yaml", manifest_dict(names, settings=FAST))
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    done = batchcreate(
        "run",
        str(path),
        "--simulate",
        "--sim-job-duration",
        "0.3s",
        "--report",
        str(report),
        "--log-format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert data["summary"]["created"] == 9
    assert data["summary"]["total"] == 9
    assert data["simulated"] is True
    assert data["schemaVersion"] == "1.1.0"
    assert data["state"] == "finished"
    assert sorted(c["name"] for c in data["clusters"]) == sorted(
        n for group in names.values() for n in group
    )
    assert f"report: {report}" in done.stdout
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert sum(e["event"] == "cluster.terminal" for e in events) == 9
    assert not list(report.parent.glob("*.tmp"))


def test_run_simulate_with_failures_exits_1(tmp_path: Path) -> None:
    """When every simulated job fails, run exits 1 and names the failures on stdout."""
    path = write(
        tmp_path / "fleet.yaml", manifest_dict({"proj-a": ["alpha-01", "alpha-02"]}, settings=FAST)
    )
    report = tmp_path / "r.json"
    done = batchcreate(
        "run",
        str(path),
        "--simulate",
        "--sim-job-duration",
        "0.2s",
        "--sim-fail-rate",
        "1",
        "--report",
        str(report),
        "--log-level",
        "error",
    )
    assert done.returncode == 1
    assert "failed 2" in done.stdout
    assert "proj-a/alpha-01" in done.stdout
    assert json.loads(report.read_text())["summary"]["failed"] == 2


def test_run_without_credentials_exits_3_and_says_what_was_tried(tmp_path: Path) -> None:
    """No token and no --simulate: exit 3 before any request, naming the variable."""
    report = tmp_path / "r.json"
    done = batchcreate("run", str(DEMO), "--report", str(report))
    assert done.returncode == 3
    assert "BATCHCREATE_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr
    assert not report.exists()


@pytest.fixture
def token_simulator() -> Iterator[str]:
    """A simulator process that checks a token; yields its URL."""
    with simulator_process("--token", "tok-123", "--job-duration", "0.3s") as url:
        yield url


def test_run_against_a_simulator_process_with_token(token_simulator: str, tmp_path: Path) -> None:
    """A real run with BATCHCREATE_TOKEN against the simulate command: right token exit 0,
    wrong token exit 3 with a report of not_started clusters."""
    url = token_simulator
    path = write(
        tmp_path / "fleet.yaml",
        manifest_dict({"proj-a": ["alpha-01", "alpha-02"]}, settings=FAST, endpoint=url),
    )
    report = tmp_path / "r.json"
    fast = ["--poll-initial-delay", "0.3s", "--poll-interval", "0.1s", "--log-level", "error"]
    done = batchcreate(
        "run", str(path), "--report", str(report), *fast, env={"BATCHCREATE_TOKEN": "tok-123"}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(report.read_text())["summary"]["created"] == 2

    rerun = batchcreate(
        "run", str(path), "--report", str(report), *fast, env={"BATCHCREATE_TOKEN": "tok-123"}
    )
    assert rerun.returncode == 0
    assert json.loads(report.read_text())["summary"]["existing"] == 2

    wrong = batchcreate(
        "run", str(path), "--report", str(report), *fast, env={"BATCHCREATE_TOKEN": "bad-token"}
    )
    assert wrong.returncode == 3
    data = json.loads(report.read_text())
    assert data["summary"]["not_started"] == 2
    assert data["clusters"][0]["lastError"]["errorCode"] == "APIGW.0301"
    assert "tok-123" not in report.read_text()
    assert "bad-token" not in wrong.stdout + wrong.stderr + report.read_text()


def test_default_report_path_is_made_from_a_safe_batch_name(tmp_path: Path) -> None:
    """Without --report, the report lands in the working directory under a file-safe name."""
    data = manifest_dict({"proj-a": ["alpha-01"]}, settings=FAST)
    data["name"] = "ops/fleet: east"
    path = write(tmp_path / "fleet.yaml", data)
    done = batchcreate(
        "run",
        str(path),
        "--simulate",
        "--sim-job-duration",
        "0.2s",
        "--log-level",
        "error",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = tmp_path / "ops-fleet-east-report.json"
    assert json.loads(report.read_text())["batch"] == "ops/fleet: east"


def test_an_unwritable_report_still_shows_the_results(tmp_path: Path) -> None:
    """If the report cannot be written at the end, it is printed on stdout and the run fails."""
    path = write(tmp_path / "fleet.yaml", manifest_dict({"proj-a": ["alpha-01"]}, settings=FAST))
    target = tmp_path / "out"
    target.mkdir()
    script = (
        "import sys, batchcreate.report as r\n"
        "def boom(report, path):\n"
        "    raise PermissionError(13, 'Permission denied')\n"
        "r.write_report = boom\n"
        "import batchcreate.app as a\n"
        "a.write_report = boom\n"
        "from batchcreate.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "run",
            str(path),
            "--simulate",
            "--sim-job-duration",
            "0.2s",
            "--report",
            str(target / "r.json"),
            "--log-level",
            "error",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 1
    assert "could not write the report" in done.stderr
    assert "Permission denied" in done.stderr
    report = json.loads(done.stdout[done.stdout.index("{") :])
    assert report["summary"]["created"] == 1


def test_version_and_help() -> None:
    """--version and every subcommand's --help work and show examples."""
    from batchcreate import __version__

    assert batchcreate("--version").stdout.strip() == f"batchcreate {__version__}"
    for command in ("run", "validate", "simulate"):
        done = batchcreate(command, "--help")
        assert done.returncode == 0
        assert "example" in done.stdout
