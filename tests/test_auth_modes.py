"""Whole batches in every way of authenticating, against a simulator that verifies each call,
and a search for leaked secrets in everything a run leaves behind."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchcreate.app import run_batch
from batchcreate.clock import SystemClock
from batchcreate.logs import configure_logging
from batchcreate.manifest import build_plan
from batchcreate.report import Outcome
from batchcreate.simulator.fake_cce import FakeCce, SimulatorConfig
from batchcreate.simulator.gatekeeper import AuthConfig
from batchcreate.simulator.server import RunningSimulator, start_simulator
from tests.conftest import manifest_dict, simulator_process

ROOT = Path(__file__).resolve().parent.parent
AK, SK = "AKSENTINEL0001", "SK-SENTINEL-secret-0001"
SECURITY_TOKEN = "STS-SENTINEL-temporary-0001"
TOKEN = "TOKEN-SENTINEL-0001"
USER, PASSWORD, DOMAIN = "fleet-robot", "PASSWORD-SENTINEL-0001", "acme"
SENTINELS = (SK, SECURITY_TOKEN, TOKEN, PASSWORD)
FAST = {
    "rateLimit": 100,
    "timeout": "30s",
    "poll": {"initialDelay": "0.3s", "interval": "0.1s", "maxInterval": "0.2s"},
}


def plan_for(url: str, credentials: dict[str, Any] | None = None) -> Any:
    manifest = manifest_dict(
        {"proj-auth": [f"auth-{i:02d}" for i in range(6)]}, settings=FAST, endpoint=url
    )
    if credentials is not None:
        manifest["projects"][0]["credentials"] = credentials
    return build_plan(manifest)


async def simulator(auth: AuthConfig, job_duration: float = 0.4) -> RunningSimulator:
    cce = FakeCce(
        SimulatorConfig(job_duration=job_duration, duration_jitter=0.0, seed=8, auth=auth),
        clock=SystemClock(),
    )
    return await start_simulator(cce)


@pytest.mark.parametrize(
    ("mode", "auth", "environ"),
    [
        ("token", AuthConfig(token=TOKEN), {"BATCHCREATE_TOKEN": TOKEN}),
        (
            "aksk",
            AuthConfig(access_keys={AK: SK}),
            {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK},
        ),
        (
            "temporary aksk",
            AuthConfig(access_keys={AK: SK}, security_tokens={AK: SECURITY_TOKEN}),
            {
                "HUAWEICLOUD_SDK_AK": AK,
                "HUAWEICLOUD_SDK_SK": SK,
                "HUAWEICLOUD_SDK_SECURITY_TOKEN": SECURITY_TOKEN,
            },
        ),
    ],
)
async def test_a_batch_runs_in_each_auth_mode_with_every_call_verified(
    tmp_path: Path, mode: str, auth: AuthConfig, environ: dict[str, str]
) -> None:
    """Token, AK/SK and temporary AK/SK: every call passes the simulator's check."""
    async with await simulator(auth) as sim:
        result = await run_batch(
            plan_for(sim.url), tmp_path / "r.json", environ=environ, home=tmp_path
        )
        assert sim.cce.gate.rejections == 0, mode
    assert result.exit_code == 0
    assert {c.outcome for c in result.report.clusters} == {Outcome.CREATED}
    expected = {"token": "token", "aksk": "ak/sk", "temporary aksk": "temporary ak/sk"}
    assert result.report.settings["auth"] == expected[mode]


async def test_a_profile_file_supplies_the_keys(tmp_path: Path) -> None:
    """With no variables set, ~/.huaweicloud/credentials [basic] is used."""
    profile = tmp_path / ".huaweicloud" / "credentials"
    profile.parent.mkdir()
    profile.write_text(f"[basic]\nak = {AK}\nsk = {SK}\n")
    profile.chmod(0o600)
    async with await simulator(AuthConfig(access_keys={AK: SK})) as sim:
        result = await run_batch(plan_for(sim.url), tmp_path / "r.json", environ={}, home=tmp_path)
        assert sim.cce.gate.rejections == 0
    assert result.exit_code == 0


async def test_iam_tokens_expire_mid_batch_and_are_refreshed_without_a_failure(
    tmp_path: Path,
) -> None:
    """An IAM user's tokens live 1 s in a batch of several seconds: fresh tokens are fetched
    before they expire, one fetch for all clusters at a time, and no cluster fails."""
    auth = AuthConfig(iam_users={USER: PASSWORD}, token_lifetime=1.0)
    async with await simulator(auth, job_duration=1.5) as sim:
        credentials = {
            "iam": {
                "user": USER,
                "passwordEnv": "ROBOT_PASSWORD",
                "domain": DOMAIN,
                "endpoint": sim.url,
            }
        }
        result = await run_batch(
            plan_for(sim.url, credentials),
            tmp_path / "r.json",
            environ={"ROBOT_PASSWORD": PASSWORD},
            home=tmp_path,
        )
        issued = sim.cce.gate.tokens_issued
        rejections = sim.cce.gate.rejections
    assert result.exit_code == 0
    assert {c.outcome for c in result.report.clusters} == {Outcome.CREATED}
    assert result.report.duration_seconds > 2.0
    assert issued >= 2
    assert issued <= result.report.duration_seconds / 0.5 + 2  # shared, not one per cluster
    assert rejections == 0
    assert result.report.settings["auth"] == "iam password"


@pytest.mark.parametrize(
    ("auth", "environ", "credentials"),
    [
        (
            AuthConfig(access_keys={AK: SK}),
            {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": "wrong-" + SK},
            None,
        ),
        (AuthConfig(token=TOKEN), {"BATCHCREATE_TOKEN": "wrong-" + TOKEN}, None),
        (
            AuthConfig(iam_users={USER: PASSWORD}),
            {"ROBOT_PASSWORD": "wrong-" + PASSWORD},
            {"iam": {"user": USER, "passwordEnv": "ROBOT_PASSWORD", "domain": DOMAIN}},
        ),
    ],
)
async def test_rejected_credentials_exit_3_before_any_create(
    tmp_path: Path,
    auth: AuthConfig,
    environ: dict[str, str],
    credentials: dict[str, Any] | None,
) -> None:
    """A wrong SK, token or password: nothing is created and the run exits 3."""
    async with await simulator(auth) as sim:
        if credentials is not None:
            credentials["iam"]["endpoint"] = sim.url
        result = await run_batch(
            plan_for(sim.url, credentials), tmp_path / "r.json", environ=environ, home=tmp_path
        )
        assert sim.cce.requests["create"] == 0
    assert result.exit_code == 3
    assert {c.outcome for c in result.report.clusters} == {Outcome.NOT_STARTED}


def test_a_literal_secret_in_the_manifest_is_refused(tmp_path: Path) -> None:
    """validate rejects a manifest that holds a secret, without echoing it."""
    manifest = manifest_dict({"proj-auth": ["auth-00"]})
    manifest["projects"][0]["credentials"] = {"env": "ROBOT", "sk": SK}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(manifest))
    done = subprocess.run(
        [sys.executable, "-m", "batchcreate", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert "projects[0].credentials.sk" in done.stderr
    assert SK not in done.stdout + done.stderr


@pytest.fixture
def leak_log() -> io.StringIO:
    """Debug-level JSON logs captured in memory, as a log shipper would receive them."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    return stream


async def test_no_secret_leaves_the_process_in_any_auth_mode(
    tmp_path: Path, leak_log: io.StringIO
) -> None:
    """Sentinel secrets, and the IAM tokens issued, appear in no log line and no report, in
    every mode, failing ones included."""
    everything: list[str] = []
    issued: list[str] = []
    cases: list[tuple[AuthConfig, dict[str, str], bool]] = [
        (AuthConfig(token=TOKEN), {"BATCHCREATE_TOKEN": TOKEN}, False),
        (
            AuthConfig(access_keys={AK: SK}),
            {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK},
            False,
        ),
        (
            AuthConfig(access_keys={AK: SK}, security_tokens={AK: SECURITY_TOKEN}),
            {
                "HUAWEICLOUD_SDK_AK": AK,
                "HUAWEICLOUD_SDK_SK": SK,
                "HUAWEICLOUD_SDK_SECURITY_TOKEN": SECURITY_TOKEN,
            },
            False,
        ),
        (
            AuthConfig(iam_users={USER: PASSWORD}, token_lifetime=1.0),
            {"ROBOT_PASSWORD": PASSWORD},
            True,
        ),
        (
            AuthConfig(access_keys={AK: "other"}),
            {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK},
            False,
        ),
        (AuthConfig(iam_users={USER: "other"}), {"ROBOT_PASSWORD": PASSWORD}, True),
    ]
    for index, (auth, environ, iam) in enumerate(cases):
        async with await simulator(auth) as sim:
            credentials = (
                {
                    "iam": {
                        "user": USER,
                        "passwordEnv": "ROBOT_PASSWORD",
                        "domain": DOMAIN,
                        "endpoint": sim.url,
                    }
                }
                if iam
                else None
            )
            report = tmp_path / f"r{index}.json"
            await run_batch(plan_for(sim.url, credentials), report, environ=environ, home=tmp_path)
            issued.extend(sim.cce.gate._issued)
        everything.append(report.read_text())
    everything.append(leak_log.getvalue())
    text = "\n".join(everything)
    assert issued  # the IAM cases really issued tokens to look for
    assert "cluster.terminal" in text
    for secret in (*SENTINELS, *issued):
        assert secret not in text


def test_the_cli_leaks_nothing_on_stdout_or_stderr(tmp_path: Path) -> None:
    """A run with sentinel credentials from the environment, at debug level, rejected by the
    service: its output and report hold no secret."""
    manifest = manifest_dict({"proj-auth": ["auth-00", "auth-01"]}, settings=FAST)
    with simulator_process("--ak", AK, "--sk", "not-the-sentinel") as url:
        manifest["projects"][0]["endpoint"] = url
        path = tmp_path / "m.yaml"
        path.write_text(yaml.safe_dump(manifest))
        report = tmp_path / "r.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUAWEICLOUD", "BATCH"))}
        env |= {
            "HUAWEICLOUD_SDK_AK": AK,
            "HUAWEICLOUD_SDK_SK": SK,
            "HUAWEICLOUD_SDK_SECURITY_TOKEN": SECURITY_TOKEN,
            "HOME": str(tmp_path),
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "batchcreate",
                "run",
                str(path),
                "--report",
                str(report),
                "--log-level",
                "debug",
                "--log-format",
                "json",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
    assert done.returncode == 3
    assert "APIGW.0301" in report.read_text()
    for secret in SENTINELS:
        assert secret not in done.stdout
        assert secret not in done.stderr
        assert secret not in report.read_text()
    assert json.loads(report.read_text())["summary"]["not_started"] == 2
