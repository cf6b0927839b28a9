"""The JSON Schemas: committed copies match the models, and they agree with the loader."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import Field

from batchcreate import manifest as manifest_module
from batchcreate import schemas
from batchcreate.app import execute
from batchcreate.auth import NoAuth
from batchcreate.clock import VirtualClock
from batchcreate.durations import parse_duration
from batchcreate.errors import ManifestError
from batchcreate.manifest import build_plan
from batchcreate.report import SCHEMA_VERSION, Outcome, RunState
from batchcreate.settings import Settings
from batchcreate.simulator.fake_cce import Behaviour, FakeCce, SimulatorConfig
from batchcreate.simulator.memory import InMemoryTransport
from batchcreate.templates import MAX_COUNT, TEMPLATE_KEYS
from batchcreate.validation import KNOWN_BODY_KEYS
from tests.conftest import manifest_dict

ROOT = Path(__file__).resolve().parent.parent
Validator = jsonschema.Draft202012Validator


@pytest.fixture(scope="module")
def manifest_validator() -> jsonschema.Draft202012Validator:
    """A validator for the committed manifest schema (the one editors use)."""
    return Validator(json.loads((ROOT / "schemas" / "manifest.schema.json").read_text()))


@pytest.fixture(scope="module")
def report_validator() -> jsonschema.Draft202012Validator:
    """A validator for the committed report schema (the one dashboards use)."""
    return Validator(json.loads((ROOT / "schemas" / "report.schema.json").read_text()))


def error_paths(validator: jsonschema.Draft202012Validator, document: Any) -> set[str]:
    """Where the document fails, as dotted paths, looking inside anyOf/oneOf branches too."""

    def walk(errors: Any) -> Iterator[str]:
        for error in errors:
            yield ".".join(str(p) for p in error.absolute_path)
            yield from walk(error.context or ())

    return set(walk(validator.iter_errors(document)))


# ---- the committed files ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_committed_schema_matches_the_models(name: str) -> None:
    """schemas/<name>.schema.json is exactly what the models generate today."""
    path = ROOT / "schemas" / f"{name}.schema.json"
    committed = path.read_text(encoding="utf-8") if path.exists() else "(missing)"
    assert committed == schemas.render_schema(name), (
        f"schemas/{name}.schema.json is out of date with the models; regenerate it with "
        f"`{schemas.REGENERATE}` (from the repository root) and commit the result"
    )


def test_check_mode_reports_a_stale_file_and_write_mode_repairs_it(tmp_path: Path) -> None:
    """``--check`` exits 1 on a drifted copy; a plain run rewrites both files so it passes."""
    assert schemas.main([str(tmp_path)]) == 0
    (tmp_path / "report.schema.json").write_text("{}\n")
    assert schemas.stale_schemas(tmp_path) == [tmp_path / "report.schema.json"]
    assert schemas.main(["--check", str(tmp_path)]) == 1
    assert schemas.main([str(tmp_path)]) == 0
    assert schemas.main(["--check", str(tmp_path)]) == 0


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_schema_is_draft_2020_12_with_identity(name: str) -> None:
    """Each schema is itself valid, declares its dialect, and has an id, title, description."""
    schema = schemas.SCHEMAS[name]()
    Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:batchcreate:schema:")
    assert schema["title"] == f"batchcreate {name}"
    assert schema["description"]


def test_render_is_sorted_indented_and_ends_with_a_newline() -> None:
    """Rendering is byte-stable: sorted keys, two-space indent, one final newline."""
    text = schemas.render_schema("manifest")
    assert text == schemas.render_schema("manifest")
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_unknown_schema_name_is_a_clear_error() -> None:
    """Asking for a schema that does not exist names the ones that do."""
    with pytest.raises(ValueError, match="unknown schema 'plan'; choose one of manifest, report"):
        schemas.render_schema("plan")


# ---- manifests ----------------------------------------------------------------------------


def test_demo_manifest_is_valid(manifest_validator: jsonschema.Draft202012Validator) -> None:
    """jobs/demo.yaml, as YAML parses it, passes the schema with no error."""
    demo = yaml.safe_load((ROOT / "jobs" / "demo.yaml").read_text(encoding="utf-8"))
    assert error_paths(manifest_validator, demo) == set()


def _with(change: dict[str, Any]) -> dict[str, Any]:
    """The conftest manifest with ``change`` laid over it (paths as dotted keys)."""
    doc = manifest_dict({"proj-a": ["alpha-one", "alpha-two"]})
    for dotted, value in change.items():
        target: Any = doc
        parts: list[Any] = [int(p) if p.isdigit() else p for p in dotted.split(".")]
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value
    return doc


VALID: dict[str, dict[str, Any]] = {
    "minimal": _with({}),
    "durations as strings": _with(
        {
            "settings": {
                "timeout": "1h30m",
                "requestTimeout": " 250ms ",
                "poll": {"initialDelay": "0s", "interval": ".5s", "maxInterval": "1h 5m"},
                "retry": {"baseDelay": "2", "maxDelay": 90},
            }
        }
    ),
    "durations as numbers": _with({"settings": {"timeout": 90.5, "poll": {"interval": 3}}}),
    "empty settings and defaults": {
        "settings": None,
        "defaults": None,
        "projects": [
            {
                "id": "p1",
                "region": "cn-north-4",
                "clusters": [
                    copy.deepcopy({"metadata": {"name": "lone-one"}, **_with({})["defaults"]})
                ],
            }
        ],
    },
    "endpoint instead of region": _with(
        {"projects.0.region": None, "projects.0.endpoint": "http://127.0.0.1:8443/"}
    ),
    "credentials from env": _with({"projects.0.credentials": {"env": "TEAM_B"}}),
    "credentials from a profile": _with(
        {"projects.0.credentials": {"profile": "~/p.ini", "section": "x"}}
    ),
    "credentials from IAM": _with(
        {
            "projects.0.credentials": {
                "iam": {"userEnv": "U", "passwordEnv": "P", "domain": "acme", "scope": "region"}
            }
        }
    ),
    "unknown and newer body fields pass": _with(
        {
            "projects.0.clusters.0.spec": {
                "brandNewFeature": {"on": True},
                "clusterTags": [{"key": "a"}],
            }
        }
    ),
    "a template of clusters": _with(
        {
            "projects.0.clusters.1": {
                "count": 3,
                "start": 1,
                "metadata": {"name": "edge-{index:03d}"},
            }
        }
    ),
    "project defaults and every layer partial": _with(
        {
            "defaults": {
                "spec": {"type": "VirtualMachine", "containerNetwork": {"mode": "overlay_l2"}}
            },
            "projects.0.defaults": {
                "spec": {"flavor": "cce.s1.small", "hostNetwork": {"vpc": "v", "subnet": "s"}}
            },
        }
    ),
}


@pytest.mark.parametrize("doc", VALID.values(), ids=VALID.keys())
def test_valid_manifests_pass_both_schema_and_loader(
    manifest_validator: jsonschema.Draft202012Validator, doc: dict[str, Any]
) -> None:
    """Each of these manifests is accepted by the schema and by ``build_plan`` alike."""
    assert error_paths(manifest_validator, doc) == set()
    assert build_plan(copy.deepcopy(doc)).cluster_count >= 1


INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "misspelt top-level key": (_with({"setings": {}}), ""),
    "misspelt project key": (_with({"projects.0.regoin": "cn-north-4"}), "projects.0"),
    "misspelt settings key": (_with({"settings": {"rateLimt": 5}}), "settings"),
    "misspelt poll key": (_with({"settings": {"poll": {"intervall": "5s"}}}), "settings.poll"),
    "duration with a bare tail": (_with({"settings": {"timeout": "1h30"}}), "settings.timeout"),
    "duration in words": (_with({"settings": {"timeout": "ten minutes"}}), "settings.timeout"),
    "zero timeout": (_with({"settings": {"timeout": "0s"}}), "settings.timeout"),
    "negative duration": (
        _with({"settings": {"retry": {"baseDelay": -1}}}),
        "settings.retry.baseDelay",
    ),
    "zero rate": (_with({"settings": {"rateLimit": 0}}), "settings.rateLimit"),
    "string count": (_with({"settings": {"maxInFlight": "5"}}), "settings.maxInFlight"),
    "backoff below one": (_with({"settings": {"poll": {"backoff": 0.5}}}), "settings.poll.backoff"),
    "no projects": (_with({"projects": []}), "projects"),
    "project without id": (_with({"projects.0": {"region": "cn-north-4"}}), "projects.0"),
    "project id with a slash": (_with({"projects.0.id": "a/b"}), "projects.0.id"),
    "project id with spaces around": (_with({"projects.0.id": " p1"}), "projects.0.id"),
    "region that is not one": (_with({"projects.0.region": "CN North 4"}), "projects.0.region"),
    "endpoint that is not http": (
        _with({"projects.0.endpoint": "ftp://host"}),
        "projects.0.endpoint",
    ),
    "two credential kinds": (
        _with({"projects.0.credentials": {"env": "A", "profile": "p.ini"}}),
        "projects.0.credentials",
    ),
    "a secret in credentials": (
        _with({"projects.0.credentials": {"env": "A", "sk": "s3cr3t"}}),
        "projects.0.credentials",
    ),
    "IAM without passwordEnv": (
        _with({"projects.0.credentials": {"iam": {"user": "u", "domain": "d"}}}),
        "projects.0.credentials.iam",
    ),
    "IAM with user and userEnv": (
        _with(
            {
                "projects.0.credentials": {
                    "iam": {"user": "u", "userEnv": "U", "passwordEnv": "P", "domain": "d"}
                }
            }
        ),
        "projects.0.credentials.iam",
    ),
    "cluster type unknown": (
        _with({"projects.0.clusters.0.spec": {"type": "Linux"}}),
        "projects.0.clusters.0.spec.type",
    ),
    "network mode unknown": (
        _with({"defaults.spec.containerNetwork": {"mode": "calico"}}),
        "defaults.spec.containerNetwork.mode",
    ),
    "label value a number": (
        _with({"projects.0.clusters.0.metadata": {"name": "alpha-one", "labels": {"tier": 1}}}),
        "projects.0.clusters.0.metadata.labels.tier",
    ),
    "kind not Cluster": (
        _with({"projects.0.clusters.0.kind": "Pod"}),
        "projects.0.clusters.0.kind",
    ),
    "template of no clusters": (
        _with({"projects.0.clusters.1": {"count": 0, "metadata": {"name": "e-{index}"}}}),
        "projects.0.clusters.1.count",
    ),
    "template too large": (
        _with(
            {"projects.0.clusters.1": {"count": MAX_COUNT + 1, "metadata": {"name": "e-{index}"}}}
        ),
        "projects.0.clusters.1.count",
    ),
    "template starting below zero": (
        _with(
            {"projects.0.clusters.1": {"count": 2, "start": -1, "metadata": {"name": "e-{index}"}}}
        ),
        "projects.0.clusters.1.start",
    ),
    "start without count": (
        _with({"projects.0.clusters.1": {"start": 2, "metadata": {"name": "edge-one"}}}),
        "projects.0.clusters.1",
    ),
    "projects missing": ({k: v for k, v in _with({}).items() if k != "projects"}, ""),
    "cluster entry not a mapping": (
        _with({"projects.0.clusters.0": "alpha-one"}),
        "projects.0.clusters.0",
    ),
}


@pytest.mark.parametrize(("doc", "where"), INVALID.values(), ids=INVALID.keys())
def test_invalid_manifests_fail_both_schema_and_loader_at_the_same_place(
    manifest_validator: jsonschema.Draft202012Validator, doc: dict[str, Any], where: str
) -> None:
    """The schema rejects each of these where the mistake is, and so does ``build_plan``."""
    assert where in error_paths(manifest_validator, doc)
    with pytest.raises(ManifestError):
        build_plan(copy.deepcopy(doc))


ACCEPTED_DURATIONS = [
    "150s",
    "0.5s",
    ".5s",
    "250ms",
    "30m",
    "1h",
    "1h30m",
    "2d",
    "90",
    "1.5",
    " 1h 30m ",
]
REFUSED_DURATIONS = ["", "s", "1h30", "-5s", "5 seconds", "1y", "1.s", "PT5M", "inf", "nan", "5s-"]


@pytest.mark.parametrize("text", ACCEPTED_DURATIONS)
def test_duration_pattern_accepts_what_the_loader_accepts(text: str) -> None:
    """Every documented way of writing a duration matches the schema's pattern."""
    parse_duration(text)
    assert re.search(schemas.DURATION_PATTERN, text)


@pytest.mark.parametrize("text", REFUSED_DURATIONS)
def test_duration_pattern_refuses_what_the_loader_refuses(text: str) -> None:
    """Strings the loader refuses as durations do not match the schema's pattern either."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
    assert not re.search(schemas.DURATION_PATTERN, text)


def test_settings_defaults_in_the_schema_are_the_built_in_ones() -> None:
    """Editors show each setting's real default; durations read back to the same seconds."""
    defs = schemas.manifest_schema()["$defs"]
    built_in = Settings().to_report()
    for model, values in (
        ("SettingsDoc", built_in),
        ("PollDoc", built_in["poll"]),
        ("RetryDoc", built_in["retry"]),
    ):
        for key, value in values.items():
            if isinstance(value, dict):
                continue
            shown = defs[model]["properties"][key]["default"]
            assert parse_duration(shown) == value, f"{model}.{key}"


def test_no_manifest_key_defaults_to_null() -> None:
    """An absent key means the default, so no property advertises ``default: null``."""
    text = schemas.render_schema("manifest")
    assert '"default": null' not in text


def test_cluster_entries_and_defaults_are_partial_create_bodies() -> None:
    """Cluster entries and both defaults refer to the create body, which requires nothing."""
    schema = schemas.manifest_schema()
    defs = schema["$defs"]
    body_ref = "#/$defs/ClusterBody"
    assert schema["properties"]["defaults"]["anyOf"][0] == {"$ref": body_ref}
    assert defs["ProjectDoc"]["properties"]["defaults"]["$ref"] == body_ref
    assert defs["ProjectDoc"]["properties"]["clusters"]["items"] == {"$ref": "#/$defs/ClusterEntry"}
    assert defs["ClusterEntry"]["$ref"] == body_ref
    for name in (
        "ClusterBody",
        "ClusterMetadata",
        "ClusterSpec",
        "HostNetwork",
        "ContainerNetwork",
    ):
        assert "required" not in defs[name], name
        assert defs[name]["additionalProperties"] is True, name


def test_every_body_key_batchcreate_knows_is_offered_for_completion() -> None:
    """Each key of ``KNOWN_BODY_KEYS`` is a property at its place in the body schema."""
    defs = schemas.manifest_schema()["$defs"]

    def object_at(path: tuple[str, ...]) -> dict[str, Any]:
        node: dict[str, Any] = defs["ClusterBody"]
        for part in path:
            node = node["properties"][part]
            while "$ref" in node or "anyOf" in node:
                node = defs[node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node["anyOf"][0]
        return node

    for path, keys in KNOWN_BODY_KEYS.items():
        assert set(keys) <= set(object_at(path)["properties"]), path


def test_manifest_keys_are_strict_at_every_level() -> None:
    """The manifest's own documents (top, settings, poll, retry, project) forbid unknown keys."""
    schema = schemas.manifest_schema()
    assert schema["additionalProperties"] is False
    for name in ("SettingsDoc", "PollDoc", "RetryDoc", "ProjectDoc"):
        assert schema["$defs"][name]["additionalProperties"] is False, name


def test_overlays_name_only_keys_the_models_have() -> None:
    """Descriptions and extra checks added by schemas.py all land on existing properties."""
    schema = schemas.manifest_schema()
    models = {**schema["$defs"], "ManifestDoc": schema}
    for table in (schemas._DESCRIPTIONS, schemas._FIELD_CHECKS):
        for model, keys in table.items():
            missing = set(keys) - set(models[model]["properties"])
            assert not missing, f"{model}: {sorted(missing)} no longer exist"


def test_new_manifest_keys_appear_without_touching_schemas_py(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key added to ManifestDoc or ProjectDoc shows up, strict, with entries still bodies."""

    class ProjectDoc(manifest_module.ProjectDoc):
        tags: dict[str, str] = Field(default_factory=dict)

    class ManifestDoc(manifest_module.ManifestDoc):
        owners: list[str] = Field(default_factory=list)
        projects: list[ProjectDoc] = Field(default_factory=list)  # type: ignore[assignment]

    monkeypatch.setattr(schemas, "ManifestDoc", ManifestDoc)
    schema = schemas.manifest_schema()
    assert schema["properties"]["owners"]["items"] == {"type": "string"}
    project = schema["$defs"]["ProjectDoc"]
    assert project["properties"]["tags"]["additionalProperties"] == {"type": "string"}
    assert project["additionalProperties"] is False
    assert project["properties"]["clusters"]["items"] == {"$ref": "#/$defs/ClusterEntry"}
    validator = Validator(schema)
    doc = _with({"projects.0.tags": {"team": "a"}})
    assert error_paths(validator, {**doc, "owners": ["ops"]}) == set()
    assert "" in error_paths(validator, {**doc, "owner": ["ops"]})
    assert "projects.0" in error_paths(validator, _with({"projects.0.tag": {}}))


def test_template_keys_are_the_ones_templates_py_knows() -> None:
    """The cluster entry offers exactly the template keys the loader strips from bodies."""
    entry = schemas.manifest_schema()["$defs"]["ClusterEntry"]
    assert set(entry["properties"]) == set(TEMPLATE_KEYS)
    assert entry["properties"]["count"]["maximum"] == MAX_COUNT


def test_included_files_stand_in_for_projects(
    manifest_validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    """With ``include``, the manifest itself may list no project; without, it must list one."""
    (tmp_path / "teams").mkdir()
    team = {"projects": _with({})["projects"]}
    (tmp_path / "teams" / "a.yaml").write_text(yaml.safe_dump(team), encoding="utf-8")
    top = {k: v for k, v in _with({}).items() if k != "projects"}
    included = {**top, "include": ["teams/*.yaml"]}
    assert error_paths(manifest_validator, included) == set()
    assert build_plan(included, source=tmp_path / "fleet.yaml").cluster_count == 2
    assert "" in error_paths(manifest_validator, top)
    with pytest.raises(ManifestError, match="projects"):
        build_plan(top, source=tmp_path / "fleet.yaml")


# ---- reports ------------------------------------------------------------------------------


async def _report(**config: Any) -> dict[str, Any]:
    clock = VirtualClock()
    cce = FakeCce(SimulatorConfig(duration_jitter=0.0, seed=3, **config), clock=clock)
    plan = build_plan(
        manifest_dict({"proj-a": ["alpha-one", "doomed-one"], "proj-b": ["beta-one"]})
    )
    result = await clock.run(execute(plan, InMemoryTransport(cce), NoAuth(), clock))
    return result.report.model_dump(mode="json", by_alias=True)


async def test_real_report_validates(report_validator: jsonschema.Draft202012Validator) -> None:
    """A report from a batch run in virtual time, with a failure in it, passes the schema."""
    behaviours = {
        "doomed-one": Behaviour(job_phase="Failed", cluster_phase="Error", reason="no capacity")
    }
    report = await _report(job_duration=60.0, behaviours=behaviours)
    assert {c["outcome"] for c in report["clusters"]} == {"created", "failed"}
    assert report["schemaVersion"] == SCHEMA_VERSION
    assert error_paths(report_validator, report) == set()


async def test_report_schema_accepts_checkpoints_and_newer_minor_versions(
    report_validator: jsonschema.Draft202012Validator,
) -> None:
    """A running checkpoint (exitCode null) and a 1.x report with an added key both pass."""
    report = await _report(job_duration=60.0)
    checkpoint = {**report, "state": RunState.RUNNING.value, "exitCode": None}
    newer = {**report, "schemaVersion": f"{SCHEMA_VERSION.split('.')[0]}.99.0", "newKey": [1]}
    assert error_paths(report_validator, checkpoint) == set()
    assert error_paths(report_validator, newer) == set()


async def test_report_schema_refuses_broken_reports(
    report_validator: jsonschema.Draft202012Validator,
) -> None:
    """An unknown outcome, a missing summary and another major version are each refused."""
    report = await _report(job_duration=60.0)
    bad_outcome = copy.deepcopy(report)
    bad_outcome["clusters"][0]["outcome"] = "exploded"
    assert "clusters.0.outcome" in error_paths(report_validator, bad_outcome)
    no_summary = {k: v for k, v in report.items() if k != "summary"}
    assert "" in error_paths(report_validator, no_summary)
    assert "schemaVersion" in error_paths(report_validator, {**report, "schemaVersion": "2.0.0"})
    assert set(Outcome) == set(report_validator.schema["$defs"]["Outcome"]["enum"])
