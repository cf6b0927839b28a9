"""The unattended-run examples under jobs/ and the Containerfile: they parse and say what works."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchcreate.cli import build_parser
from batchcreate.manifest import load_manifest

ROOT = Path(__file__).resolve().parent.parent
JOBS = ROOT / "jobs"
K8S = JOBS / "k8s"
#: What Kubernetes puts in place of ``$(JOB_COMPLETION_INDEX)``, for parsing pod 0's command.
POD_INDEX = "0"


def documents(path: Path) -> list[dict[str, Any]]:
    """Every YAML document of ``path``."""
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def only(path: Path, kind: str) -> dict[str, Any]:
    """The one object of ``kind`` in ``path``."""
    (found,) = [d for d in documents(path) if d["kind"] == kind]
    return found


def parse_run(args: list[str]) -> argparse.Namespace:
    """``args`` parsed by batchcreate's own parser, as pod 0 of an Indexed Job would run them."""
    return build_parser().parse_args(
        [a.replace("$(JOB_COMPLETION_INDEX)", POD_INDEX) for a in args]
    )


def container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    """The pod's only container, which must be batchcreate's."""
    (found,) = pod_spec["containers"]
    assert found["name"] == "batchcreate"
    return dict(found)


def env_from_secrets(spec: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Environment variables taken from Secrets: name → (secret, key)."""
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in spec.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def mounts(pod_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The batchcreate container's volumes by mount path."""
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container(pod_spec)["volumeMounts"]}


YAML_FILES = sorted([*JOBS.rglob("*.yaml"), *JOBS.rglob("*.yml")])


def test_jobs_holds_the_documented_examples() -> None:
    """Every example the jobs README describes is there, and the README names each."""
    readme = (JOBS / "README.md").read_text(encoding="utf-8")
    for name in ("crontab.example", "k8s/cronjob.yaml", "k8s/indexed-job.yaml"):
        assert (JOBS / name).is_file()
        assert f"`{name}`" in readme
    assert (ROOT / "Containerfile").is_file()


@pytest.mark.parametrize("path", YAML_FILES, ids=[str(p.relative_to(JOBS)) for p in YAML_FILES])
def test_every_yaml_file_under_jobs_parses(path: Path) -> None:
    """Each YAML file under jobs/ holds at least one mapping document."""
    docs = documents(path)
    assert docs
    assert all(isinstance(d, dict) for d in docs)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fleet-configmap.yaml", [("v1", "ConfigMap")]),
        ("cronjob.yaml", [("v1", "PersistentVolumeClaim"), ("batch/v1", "CronJob")]),
        ("indexed-job.yaml", [("v1", "PersistentVolumeClaim"), ("batch/v1", "Job")]),
    ],
)
def test_kubernetes_objects_have_their_kind_and_api_version(
    name: str, expected: list[tuple[str, str]]
) -> None:
    """Each Kubernetes file holds exactly the objects it is documented to, in served versions."""
    assert [(d["apiVersion"], d["kind"]) for d in documents(K8S / name)] == expected
    assert all(d["metadata"]["name"] for d in documents(K8S / name))


def test_the_cronjob_runs_the_fleet_with_flags_that_exist() -> None:
    """The CronJob's arguments parse as `run` with the documented manifest, report and logs."""
    cronjob = only(K8S / "cronjob.yaml", "CronJob")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    args = parse_run(container(pod)["args"])
    assert args.command == "run"
    assert args.manifest == Path("/jobs/fleet.yaml")
    assert args.report == Path("/reports/fleet.json")
    assert args.log_format == "json"


def test_the_cronjob_never_overlaps_and_keeps_its_report() -> None:
    """Forbid overlap, no pod retries, a non-root pod, requests, and reports on the claim."""
    manifest = K8S / "cronjob.yaml"
    spec = only(manifest, "CronJob")["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert set(container(pod)["resources"]["requests"]) == {"cpu", "memory"}
    volumes = mounts(pod)
    claim = only(manifest, "PersistentVolumeClaim")["metadata"]["name"]
    assert volumes["/reports"]["persistentVolumeClaim"]["claimName"] == claim


@pytest.mark.parametrize("name", ["cronjob.yaml", "indexed-job.yaml"])
def test_workloads_read_credentials_and_the_manifest_from_kubernetes(name: str) -> None:
    """AK/SK come from one Secret as the SDK's variables; /jobs is the example ConfigMap."""
    workload = next(d for d in documents(K8S / name) if d["kind"] in ("CronJob", "Job"))
    spec = workload["spec"]
    pod = (spec["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else spec)["template"]
    assert env_from_secrets(container(pod["spec"])) == {
        "HUAWEICLOUD_SDK_AK": ("batchcreate-credentials", "ak"),
        "HUAWEICLOUD_SDK_SK": ("batchcreate-credentials", "sk"),
    }
    configmap = only(K8S / "fleet-configmap.yaml", "ConfigMap")["metadata"]["name"]
    assert mounts(pod["spec"])["/jobs"]["configMap"]["name"] == configmap


def test_the_indexed_job_gives_each_pod_one_shard() -> None:
    """completions = parallelism = N, and pod I runs shard I/N into its own report."""
    job = only(K8S / "indexed-job.yaml", "Job")["spec"]
    assert job["completionMode"] == "Indexed"
    count = job["completions"]
    assert job["parallelism"] == count
    raw = container(job["template"]["spec"])["args"]
    assert raw[raw.index("--shard") + 1] == f"$(JOB_COMPLETION_INDEX)/{count}"
    args = parse_run(raw)
    assert args.command == "run"
    assert args.manifest == Path("/jobs/fleet.yaml")
    assert args.report == Path("/reports/shard-0.json")
    assert (args.shard.index, args.shard.count) == (0, count)


def test_the_example_manifest_in_the_configmap_is_valid(tmp_path: Path) -> None:
    """The ConfigMap's files, written side by side as Kubernetes mounts them, load as a plan."""
    for key, text in only(K8S / "fleet-configmap.yaml", "ConfigMap")["data"].items():
        (tmp_path / key).write_text(text, encoding="utf-8")
    plan = load_manifest(tmp_path / "fleet.yaml")
    assert plan.cluster_count == 21
    assert [c.location for c in plan.projects[1].clusters][-1] == (
        "team-edge.yaml: projects[0].clusters[0][19]"
    )


def crontab_commands() -> list[list[str]]:
    """The batchcreate command of every crontab line, active or shown in a comment."""
    out = []
    for line in (JOBS / "crontab.example").read_text(encoding="utf-8").splitlines():
        words = shlex.split(line.lstrip("# "), posix=True) if "batchcreate run" in line else []
        start = next((i for i, w in enumerate(words) if w.endswith("batchcreate")), None)
        if start is not None:
            out.append([w for w in words[start + 1 :] if not w.startswith((">", "2>"))])
    return out


def test_the_crontab_runs_with_flags_that_exist() -> None:
    """Each crontab command parses as `run` with a manifest, a report and JSON logs."""
    commands = crontab_commands()
    assert len(commands) == 3
    for words in commands:
        args = parse_run(words)
        assert args.command == "run"
        assert args.manifest == Path("/etc/batchcreate/fleet.yaml")
        assert args.report is not None
        assert args.log_format == "json"
    assert [w[w.index("--shard") + 1] for w in commands[1:]] == ["0/2", "1/2"]


def test_the_crontab_explains_its_overlap_protection() -> None:
    """The crontab relies on the report lock, and says that a locked run exits 75."""
    text = (JOBS / "crontab.example").read_text(encoding="utf-8")
    assert "75" in text
    assert ".lock" in text
    active = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert not any("flock" in ln for ln in active)


def test_the_containerfile_installs_batchcreate_as_a_non_root_entrypoint() -> None:
    """python:3.11-slim, pip install ., a numeric non-root user, and batchcreate as entrypoint."""
    lines = [
        ln.strip()
        for ln in (ROOT / "Containerfile").read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    assert any("pip install ." in ln for ln in lines)
    (user,) = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert user.split(":")[0] not in ("0", "root")
    assert lines[-2:] == ['ENTRYPOINT ["batchcreate"]', 'CMD ["--help"]']
