"""Reading manifests: files and formats, merging defaults into bodies, and run settings."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchcreate.errors import ManifestError, Problem
from batchcreate.manifest import build_plan, deep_merge, load_manifest, parse_document
from batchcreate.plan import BatchPlan
from batchcreate.settings import PollSettings, RetrySettings, Settings
from tests.conftest import BASE_DEFAULTS, manifest_dict

#: The seed document's virtual-machine example, verbatim (create-cluster-api.md).
SEED_VM_EXAMPLE: dict[str, Any] = {
    "kind": "Cluster",
    "apiVersion": "v3",
    "metadata": {"name": "mycluster", "labels": {"foo": "bar"}, "annotations": {"foo2": "bar2"}},
    "spec": {
        "type": "VirtualMachine",
        "flavor": "cce.s1.small",
        "version": "v1.7.3-r13",
        "description": "this is a demo cluster",
        "hostNetwork": {
            "vpc": "0d1e5edf-5f58-4394-bb07-5c0dd4f3a0d5",
            "subnet": "a235a126-1cde-4766-b67d-a2bb3123c5ef",
        },
        "containerNetwork": {"mode": "overlay_l2", "cidr": "172.16.0.0/16"},
        "billingMode": 0,
        "extendParam": {"foo": "bar"},
    },
}

#: The seed document's bare-metal example, as far as the document spells it out.
SEED_BM_EXAMPLE: dict[str, Any] = {
    "kind": "Cluster",
    "apiVersion": "v3",
    "metadata": {"name": "mybmcluster"},
    "spec": {
        "type": "BareMetal",
        "flavor": "cce.t1.small",
        "hostNetwork": {
            "vpc": "0d1e5edf-5f58-4394-bb07-5c0dd4f3a0d5",
            "subnet": "a235a126-1cde-4766-b67d-a2bb3123c5ef",
            "highwaySubnet": "2a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d",
        },
        "containerNetwork": {"mode": "underlay_ipvlan", "cidr": "10.1.0.0/16"},
    },
}


def problems_of(data: Any) -> list[str]:
    """The problems ``build_plan`` raises for ``data``, as one-line strings."""
    with pytest.raises(ManifestError) as info:
        build_plan(data)
    return [str(p) for p in info.value.problems]


def load_problems(path: Path) -> list[Problem]:
    """The problems ``load_manifest`` raises for the file at ``path``."""
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    return list(info.value.problems)


def bodies(plan: BatchPlan) -> dict[str, dict[str, Any]]:
    """Every planned create body, by cluster name."""
    return {c.name: c.body for p in plan.projects for c in p.clusters}


def single_cluster(cluster: dict[str, Any], defaults: dict[str, Any] | None = None) -> Any:
    """A manifest of one project holding ``cluster``, under ``defaults`` (none by default)."""
    return {
        "defaults": defaults or {},
        "projects": [{"id": "proj-a", "region": "cn-north-4", "clusters": [cluster]}],
    }


# ---- Files and formats ---------------------------------------------------------------------


def test_json_content_in_a_yaml_file_loads(tmp_path: Path) -> None:
    """A file named .yaml holding JSON is read as JSON, giving the same plan as the dict."""
    path = tmp_path / "fleet.yaml"
    path.write_text(json.dumps(manifest_dict(), indent=2), encoding="utf-8")
    plan = load_manifest(path)
    assert plan == dataclasses.replace(build_plan(manifest_dict()), source_dir=tmp_path)
    assert plan.cluster_count == 2


def test_yaml_content_in_a_json_file_loads(tmp_path: Path) -> None:
    """A file named .json holding block YAML is read as YAML."""
    path = tmp_path / "fleet.json"
    path.write_text(yaml.safe_dump(manifest_dict()), encoding="utf-8")
    assert load_manifest(path) == dataclasses.replace(
        build_plan(manifest_dict()), source_dir=tmp_path
    )


def test_yaml_flow_mapping_in_a_yaml_file_loads(tmp_path: Path) -> None:
    """Content opening with '{' that is not JSON (unquoted keys) is YAML in a .yaml file."""
    path = tmp_path / "flow.yaml"
    path.write_text(
        "{name: flow, defaults: {spec: {type: VirtualMachine, flavor: cce.s1.small,"
        " hostNetwork: {vpc: v, subnet: s}, containerNetwork: {mode: overlay_l2}}},"
        " projects: [{id: p, region: cn-north-4, clusters: [{metadata: {name: flow-one}}]}]}\n",
        encoding="utf-8",
    )
    plan = load_manifest(path)
    assert plan.name == "flow"
    assert list(bodies(plan)) == ["flow-one"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("m.json", "m.json:1:9: invalid JSON: Expecting property name enclosed in double quotes"),
        ("m", "m:1:9: invalid JSON: Expecting property name enclosed in double quotes"),
    ],
)
def test_brace_opened_text_outside_yaml_files_is_held_to_json(source: str, expected: str) -> None:
    """Outside .yaml/.yml files, text opening with '{' that is not JSON is a JSON error."""
    with pytest.raises(ManifestError) as info:
        parse_document('{"a": 1,}', source)
    assert [str(p) for p in info.value.problems] == [expected]


@pytest.mark.parametrize("source", ["m.yaml", "m.yml", "m.YML"])
def test_brace_opened_text_in_yaml_files_may_be_yaml(source: str) -> None:
    """In a .yaml/.yml file a '{' document that JSON refuses is read as a YAML flow mapping."""
    assert parse_document('{"a": 1,}', source) == {"a": 1}


def test_file_without_extension_loads(tmp_path: Path) -> None:
    """The extension plays no part: a bare file name is read by its content."""
    path = tmp_path / "fleet"
    path.write_text(yaml.safe_dump(manifest_dict()), encoding="utf-8")
    assert load_manifest(path).cluster_count == 2


@pytest.mark.parametrize("dump", [json.dumps, yaml.safe_dump])
def test_utf8_byte_order_mark_is_ignored(tmp_path: Path, dump: Any) -> None:
    """A leading UTF-8 BOM (as some Windows editors write) does not break JSON or YAML."""
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + dump(manifest_dict()).encode("utf-8"))
    assert load_manifest(path).cluster_count == 2


def test_parse_document_reads_json_and_yaml_alike() -> None:
    """The same mapping written as JSON and as YAML parses to the same value."""
    data = {"name": "x", "projects": [{"id": "p", "clusters": [{"metadata": {"name": "abcd"}}]}]}
    assert parse_document(json.dumps(data), "m") == data
    assert parse_document(yaml.safe_dump(data), "m") == data


def test_batch_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    """Without a top-level name the batch is named after the file, minus its last suffix."""
    data = manifest_dict()
    del data["name"]
    path = tmp_path / "my-fleet.prod.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_manifest(path).name == "my-fleet.prod"


def test_explicit_batch_name_wins_over_the_file_stem(tmp_path: Path) -> None:
    """A top-level name is used as given, whatever the file is called."""
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(manifest_dict()), encoding="utf-8")
    assert load_manifest(path).name == "test-batch"


def test_build_plan_default_name_is_batch() -> None:
    """A manifest dict without a name, built directly, is named 'batch'."""
    data = manifest_dict()
    del data["name"]
    assert build_plan(data).name == "batch"


def test_repeated_yaml_key_names_both_lines(tmp_path: Path) -> None:
    """A key given twice in one mapping is an error located at, and naming, both lines."""
    path = tmp_path / "dup.yaml"
    path.write_text(
        "name: dup\nprojects:\n  - id: p\n    region: cn-north-4\n    id: q\n", encoding="utf-8"
    )
    assert load_problems(path) == [
        Problem(f"{path}:5:5", "invalid YAML: key 'id' on line 5 repeats the one on line 3")
    ]


def test_repeated_yaml_key_deep_inside_a_cluster_is_caught() -> None:
    """Duplicate detection applies to nested mappings, not only the top level."""
    text = (
        "projects:\n"
        "  - id: p\n"
        "    region: cn-north-4\n"
        "    clusters:\n"
        "      - metadata:\n"
        "          name: abcd\n"
        "          name: efgh\n"
    )
    with pytest.raises(ManifestError) as info:
        parse_document(text, "m.yaml")
    assert [str(p) for p in info.value.problems] == [
        "m.yaml:7:11: invalid YAML: key 'name' on line 7 repeats the one on line 6"
    ]


def test_yaml_merge_keys_merge_and_repeats_beside_them_are_still_caught() -> None:
    """``<<: *anchor`` (one mapping or a list of them) merges keys in, the mapping's own
    winning; a key given twice beside a merge is still an error."""
    text = (
        "base: &base {flavor: cce.s1.small, version: v1.29}\n"
        "more: &more {category: CCE}\n"
        "one: {<<: *base, version: v1.30}\n"
        "both:\n"
        "  <<: [*base, *more]\n"
        "  name: x\n"
    )
    data = parse_document(text, "m.yaml")
    assert data["one"] == {"flavor": "cce.s1.small", "version": "v1.30"}
    assert data["both"] == {
        "flavor": "cce.s1.small",
        "version": "v1.29",
        "category": "CCE",
        "name": "x",
    }
    with pytest.raises(ManifestError) as info:
        parse_document("base: &b {a: 1}\nc:\n  <<: *b\n  y: 2\n  y: 3\n", "m.yaml")
    assert [str(p) for p in info.value.problems] == [
        "m.yaml:5:3: invalid YAML: key 'y' on line 5 repeats the one on line 4"
    ]


@pytest.mark.parametrize(
    ("text", "location", "fragments"),
    [
        # The complaint in the words of libyaml's parser or of PyYAML's own (without libyaml).
        ("name: x\n\tprojects: []\n", "m.yaml:2:1", ("a tab character", "cannot start any token")),
        ("name: x\nprojects: [a, b\n", "m.yaml:3:1", ("expected ',' or ']'",)),
        (
            "name: x\nprojects:\n  - id: p\n   region: cn\n",
            "m.yaml:4:4",
            ("did not find expected '-' indicator", "expected <block end>"),
        ),
        (
            "key: value: other\n",
            "m.yaml:1:11",
            (
                "mapping values are not allowed in this context",
                "mapping values are not allowed here",
            ),
        ),
    ],
)
def test_yaml_syntax_error_is_located_by_line_and_column(
    text: str, location: str, fragments: tuple[str, ...]
) -> None:
    """A YAML syntax error names file:line:col (1-based) and the parser's complaint."""
    with pytest.raises(ManifestError) as info:
        parse_document(text, "m.yaml")
    (problem,) = info.value.problems
    assert problem.location == location
    assert problem.message.startswith("invalid YAML: ")
    assert any(fragment in problem.message for fragment in fragments), problem.message


def test_invalid_json_is_located_by_line_and_column(tmp_path: Path) -> None:
    """JSON that YAML cannot read either is reported with JSON's own location and reason."""
    path = tmp_path / "bad.json"
    path.write_text(
        '{"name": "x",\n  "projects": [\n    {"id": "p" "region": "cn-north-4"}\n  ]\n}\n',
        encoding="utf-8",
    )
    assert load_problems(path) == [Problem(f"{path}:3:16", "invalid JSON: Expecting ',' delimiter")]


def test_invalid_json_after_blank_lines_is_located_on_its_real_line() -> None:
    """Blank lines before the opening brace count: the location is the line in the file."""
    text = '\n\n{"name": "x"\n  "projects": []}\n'
    with pytest.raises(ManifestError) as info:
        parse_document(text, "m.json")
    assert [str(p) for p in info.value.problems] == [
        "m.json:4:3: invalid JSON: Expecting ',' delimiter"
    ]


@pytest.mark.parametrize("content", ["", "   \n\n\t\n"])
def test_empty_file_is_reported(tmp_path: Path, content: str) -> None:
    """An empty or all-blank file says so, located at the file."""
    path = tmp_path / "empty.yaml"
    path.write_text(content, encoding="utf-8")
    assert load_problems(path) == [Problem(str(path), "the manifest is empty")]


def test_non_utf8_file_is_reported_with_the_byte_offset(tmp_path: Path) -> None:
    """A Latin-1 file names the first undecodable byte and how to fix it."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    assert load_problems(path) == [Problem(str(path), "not UTF-8 text (byte 9); save it as UTF-8")]


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """A path that does not exist is one located problem, not a traceback."""
    path = tmp_path / "nope.yaml"
    assert load_problems(path) == [Problem(str(path), "no such file")]


def test_directory_is_reported(tmp_path: Path) -> None:
    """A directory given as the manifest is refused as such."""
    assert load_problems(tmp_path) == [
        Problem(str(tmp_path), "is a directory, not a manifest file")
    ]


def test_a_manifest_of_only_comments_is_empty(tmp_path: Path) -> None:
    """A YAML file holding nothing but comments is reported as empty."""
    path = tmp_path / "comments.yaml"
    path.write_text("# only a comment\n", encoding="utf-8")
    assert load_problems(path) == [Problem(str(path), "the manifest is empty (only comments)")]


def test_a_json_key_given_twice_is_an_error(tmp_path: Path) -> None:
    """Repeated keys in a JSON object are refused, as in YAML."""
    path = tmp_path / "twice.json"
    path.write_text('{"name": "a", "name": "b", "projects": []}', encoding="utf-8")
    (problem,) = load_problems(path)
    assert problem.location == str(path)
    assert "key 'name' is given twice in one object" in problem.message


@pytest.mark.parametrize(
    ("content", "type_name"),
    [
        ("- a\n- b\n", "list"),
        ("hello\n", "str"),
        ("42\n", "int"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, content: str, type_name: str) -> None:
    """A document that is a list or a scalar is refused, naming what it was."""
    path = tmp_path / "top.yaml"
    path.write_text(content, encoding="utf-8")
    assert load_problems(path) == [
        Problem("", f"the manifest must be a mapping with 'projects', got {type_name}")
    ]


def test_manifest_error_message_counts_problems() -> None:
    """One problem is the message itself; several are counted, with the first quoted."""
    one = ManifestError([Problem("settings.rateLimit", "bad")])
    two = ManifestError([Problem("a", "first"), Problem("", "second")])
    assert str(one) == "settings.rateLimit: bad"
    assert str(two) == "2 problems; first: a: first"
    assert str(two.problems[1]) == "second"
    assert ManifestError.code == "manifest.invalid"


# ---- Merging defaults ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "override", "merged"),
    [
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"m": {"x": 1, "y": 1}}, {"m": {"y": 2, "z": 2}}, {"m": {"x": 1, "y": 2, "z": 2}}),
        ({"l": [1, 2, 3]}, {"l": [9]}, {"l": [9]}),
        ({"m": {"x": 1}}, {"m": "flat"}, {"m": "flat"}),
        ({"m": "flat"}, {"m": {"x": 1}}, {"m": {"x": 1}}),
        ({"a": {"b": {"c": 1, "d": 1}}}, {"a": {"b": {"d": 2}}}, {"a": {"b": {"c": 1, "d": 2}}}),
        ({"a": 1}, {"a": None}, {"a": None}),
    ],
)
def test_deep_merge_merges_mappings_and_replaces_everything_else(
    base: dict[str, Any], override: dict[str, Any], merged: dict[str, Any]
) -> None:
    """Mappings merge key by key at any depth; lists, scalars and None replace."""
    before = copy.deepcopy(base)
    assert deep_merge(base, override) == merged
    assert base == before


def test_cluster_beats_project_defaults_beats_batch_defaults() -> None:
    """A scalar set at all three levels takes the most specific one."""
    data = manifest_dict({"proj-a": ["plain-one", "own-flavor"], "proj-b": ["batch-only"]})
    data["projects"][0]["defaults"] = {"spec": {"flavor": "cce.s1.medium"}}
    data["projects"][0]["clusters"][1]["spec"] = {"flavor": "cce.s2.small"}
    flavors = {name: body["spec"]["flavor"] for name, body in bodies(build_plan(data)).items()}
    assert flavors == {
        "plain-one": "cce.s1.medium",
        "own-flavor": "cce.s2.small",
        "batch-only": "cce.s1.small",
    }


def test_nested_mappings_merge_across_all_three_levels() -> None:
    """Labels and hostNetwork keys from batch, project and cluster all reach the body."""
    data = manifest_dict({"proj-a": ["alpha-one"]})
    data["defaults"]["metadata"] = {"labels": {"owner": "platform", "env": "dev"}}
    data["projects"][0]["defaults"] = {
        "metadata": {"labels": {"team": "team-a"}},
        "spec": {"hostNetwork": {"subnet": "subnet-a"}},
    }
    cluster = data["projects"][0]["clusters"][0]
    cluster["metadata"]["labels"] = {"env": "prod"}
    cluster["spec"] = {"hostNetwork": {"SecurityGroup": "sg-1"}}
    body = bodies(build_plan(data))["alpha-one"]
    assert body["metadata"]["labels"] == {"owner": "platform", "env": "prod", "team": "team-a"}
    assert body["spec"]["hostNetwork"] == {
        "vpc": "vpc-1",
        "subnet": "subnet-a",
        "SecurityGroup": "sg-1",
    }


def test_lists_from_a_cluster_replace_lists_from_defaults() -> None:
    """A list is a value, not a mapping: the cluster's cidrs replace the defaults' whole list."""
    data = manifest_dict({"proj-a": ["alpha-one"]})
    data["defaults"]["spec"]["containerNetwork"]["cidrs"] = [
        {"cidr": "172.16.0.0/16"},
        {"cidr": "172.17.0.0/16"},
    ]
    data["projects"][0]["clusters"][0]["spec"] = {
        "containerNetwork": {"cidrs": [{"cidr": "172.20.0.0/16"}]}
    }
    body = bodies(build_plan(data))["alpha-one"]
    assert body["spec"]["containerNetwork"] == {
        "mode": "overlay_l2",
        "cidrs": [{"cidr": "172.20.0.0/16"}],
    }


def test_kind_and_api_version_are_filled_in_when_absent() -> None:
    """A body without kind and apiVersion gets exactly Cluster and v3, and nothing else added."""
    body = bodies(build_plan(manifest_dict({"proj-a": ["alpha-one"]})))["alpha-one"]
    assert body == {
        "kind": "Cluster",
        "apiVersion": "v3",
        "metadata": {"name": "alpha-one"},
        **copy.deepcopy(BASE_DEFAULTS),
    }


def test_kind_and_api_version_may_come_from_defaults() -> None:
    """kind and apiVersion written in defaults are kept as written."""
    data = manifest_dict({"proj-a": ["alpha-one"]})
    data["defaults"].update({"kind": "Cluster", "apiVersion": "v3"})
    body = bodies(build_plan(data))["alpha-one"]
    assert (body["kind"], body["apiVersion"]) == ("Cluster", "v3")


def test_fields_unknown_to_batchcreate_pass_through_unchanged() -> None:
    """Newer service fields, at any depth, reach the create body exactly as written."""
    cluster = copy.deepcopy(SEED_VM_EXAMPLE)
    cluster["metadata"]["alias"] = "My Cluster"
    cluster["metadata"]["timezone"] = "Asia/Shanghai"
    cluster["spec"].update(
        {
            "kubeProxyMode": "ipvs",
            "category": "Turbo",
            "someBrandNewField": {"deep": [1, {"a": None}], "flag": True},
        }
    )
    cluster["spec"]["hostNetwork"]["SecurityGroup"] = "sg-1"
    cluster["spec"]["hostNetwork"]["futureThing"] = 3
    cluster["spec"]["containerNetwork"]["cidrs"] = [{"cidr": "172.16.0.0/16", "extra": "y"}]
    cluster["spec"]["extendParam"]["enterpriseProjectId"] = "0"
    expected = copy.deepcopy(cluster)
    body = bodies(build_plan(single_cluster(cluster)))["mycluster"]
    assert body == expected
    assert body["spec"]["someBrandNewField"] == {"deep": [1, {"a": None}], "flag": True}
    assert body["metadata"]["annotations"] == {"foo2": "bar2"}


def test_optional_fields_left_out_stay_out_of_the_body() -> None:
    """Fields the models know but the manifest omits (alias, version, billingMode) are not sent."""
    body = bodies(build_plan(manifest_dict({"proj-a": ["alpha-one"]})))["alpha-one"]
    assert "alias" not in body["metadata"]
    assert not {"version", "billingMode", "extendParam", "description"} & body["spec"].keys()


@pytest.mark.parametrize("example", [SEED_VM_EXAMPLE, SEED_BM_EXAMPLE], ids=["vm", "bare-metal"])
def test_seed_examples_validate_as_they_are(example: dict[str, Any]) -> None:
    """The seed document's own request examples are valid and sent exactly as written."""
    plan = build_plan(single_cluster(copy.deepcopy(example)))
    (cluster,) = plan.projects[0].clusters
    assert cluster.name == example["metadata"]["name"]
    assert cluster.body == example
    assert cluster.location == "projects[0].clusters[0]"


def test_build_plan_leaves_its_input_untouched() -> None:
    """Merging and defaulting do not write into the caller's manifest dict."""
    data = manifest_dict({"proj-a": ["alpha-one"], "proj-b": ["beta-one"]})
    data["projects"][0]["defaults"] = {"metadata": {"labels": {"team": "a"}}}
    before = copy.deepcopy(data)
    build_plan(data)
    assert data == before


def test_planned_bodies_share_no_mutable_state() -> None:
    """Changing one planned body changes neither its sibling nor a later plan of the same dict."""
    data = manifest_dict({"proj-a": ["alpha-one", "alpha-two"]})
    plan = build_plan(data)
    first, second = plan.projects[0].clusters
    first.body["spec"]["hostNetwork"]["vpc"] = "changed"
    assert second.body["spec"]["hostNetwork"]["vpc"] == "vpc-1"
    assert bodies(build_plan(data))["alpha-one"]["spec"]["hostNetwork"]["vpc"] == "vpc-1"


def test_projects_plan_endpoints_and_locations() -> None:
    """Each project gets its region's endpoint (or its override) and its manifest location."""
    data = manifest_dict({"proj-a": ["alpha-one"], "proj-b": ["beta-one"], "proj-c": ["gamma"]})
    data["projects"][1]["region"] = "eu-west-101"
    del data["projects"][2]["region"]
    data["projects"][2]["endpoint"] = "http://127.0.0.1:8080/"
    data["projects"][2]["clusters"][0]["metadata"]["name"] = "gamma-one"
    plan = build_plan(data)
    assert [(p.id, p.region, p.endpoint, p.location) for p in plan.projects] == [
        ("proj-a", "cn-north-4", "https://cce.cn-north-4.myhuaweicloud.com", "projects[0]"),
        ("proj-b", "eu-west-101", "https://cce.eu-west-101.myhuaweicloud.eu", "projects[1]"),
        ("proj-c", None, "http://127.0.0.1:8080", "projects[2]"),
    ]
    assert [c.location for p in plan.projects for c in p.clusters] == [
        "projects[0].clusters[0]",
        "projects[1].clusters[0]",
        "projects[2].clusters[0]",
    ]
    assert plan.cluster_count == 3


def test_project_without_clusters_is_planned_empty() -> None:
    """A project listing no clusters is valid and contributes nothing to create."""
    data = manifest_dict({"proj-a": ["alpha-one"], "proj-b": []})
    plan = build_plan(data)
    assert [len(p.clusters) for p in plan.projects] == [1, 0]


# ---- Settings ------------------------------------------------------------------------------


def test_every_settings_key_is_parsed() -> None:
    """Each key, durations in any accepted form, lands in the matching Settings field."""
    settings = {
        "rateLimit": 2.5,
        "maxInFlight": 7,
        "maxInFlightPerProject": 3,
        "timeout": "30m",
        "poll": {"initialDelay": "150s", "interval": "0.5s", "maxInterval": "1m", "backoff": 2},
        "retry": {"attempts": 4, "baseDelay": "250ms", "maxDelay": "1h30m"},
        "requestTimeout": 12,
    }
    assert build_plan(manifest_dict(settings=settings)).settings == Settings(
        rate_limit=2.5,
        max_in_flight=7,
        max_in_flight_per_project=3,
        timeout=1800.0,
        poll=PollSettings(initial_delay=150.0, interval=0.5, max_interval=60.0, backoff=2.0),
        retry=RetrySettings(attempts=4, base_delay=0.25, max_delay=5400.0),
        request_timeout=12.0,
    )


@pytest.mark.parametrize("settings", [{}, None])
def test_absent_settings_take_the_defaults(settings: dict[str, Any] | None) -> None:
    """No settings (empty or null) means the documented defaults."""
    data = manifest_dict()
    data["settings"] = settings
    resolved = build_plan(data).settings
    assert resolved == Settings()
    assert (resolved.rate_limit, resolved.max_in_flight, resolved.timeout) == (10.0, 50, 1800.0)
    assert resolved.poll == PollSettings(150.0, 20.0, 60.0, 1.5)
    assert resolved.retry == RetrySettings(8, 0.5, 60.0)


def test_partial_poll_settings_keep_the_other_defaults() -> None:
    """Setting one poll key leaves the other poll keys at their defaults."""
    resolved = build_plan(manifest_dict(settings={"poll": {"backoff": 1.0}})).settings
    assert resolved.poll == PollSettings(
        initial_delay=150.0, interval=20.0, max_interval=60.0, backoff=1.0
    )
    assert resolved.retry == RetrySettings()


@pytest.mark.parametrize(
    ("timeout", "seconds"),
    [("30m", 1800.0), ("0.5s", 0.5), (90, 90.0), (2.5, 2.5), ("1h30m", 5400.0), ("45", 45.0)],
)
def test_timeout_accepts_durations_and_numbers(timeout: object, seconds: float) -> None:
    """timeout takes unit strings, bare numbers and numeric strings, all as seconds."""
    assert build_plan(manifest_dict(settings={"timeout": timeout})).settings.timeout == seconds


@pytest.mark.parametrize(
    ("settings", "location", "fragment"),
    [
        ({"rateLimit": 0}, "settings.rateLimit", "greater than 0"),
        ({"rateLimit": -1}, "settings.rateLimit", "greater than 0"),
        ({"rateLimit": "fast"}, "settings.rateLimit", "must be a number, got 'fast'"),
        ({"maxInFlight": "x"}, "settings.maxInFlight", "must be a whole number, got 'x'"),
        ({"maxInFlight": 0}, "settings.maxInFlight", "greater than or equal to 1"),
        ({"maxInFlight": 2.5}, "settings.maxInFlight", "must be a whole number, got 2.5"),
        ({"maxInFlight": True}, "settings.maxInFlight", "must be a whole number, got True"),
        ({"maxInFlightPerProject": 0}, "settings.maxInFlightPerProject", "greater than or equal"),
        ({"timeout": 0}, "settings.timeout", "greater than 0"),
        ({"timeout": "abc"}, "settings.timeout", "expected a duration such as 150s"),
        ({"timeout": True}, "settings.timeout", "got True"),
        ({"requestTimeout": 0}, "settings.requestTimeout", "greater than 0"),
        ({"poll": {"interval": 0}}, "settings.poll.interval", "greater than 0"),
        ({"poll": {"initialDelay": "soon"}}, "settings.poll.initialDelay", "got 'soon'"),
        ({"poll": {"backoff": 0.5}}, "settings.poll.backoff", "greater than or equal to 1"),
        ({"poll": 5}, "settings.poll", "must be a mapping of keys to values, got 5"),
        ({"retry": {"attempts": 0}}, "settings.retry.attempts", "greater than or equal to 1"),
        ({"retry": {"attempts": "3"}}, "settings.retry.attempts", "must be a whole number"),
        ({"retry": {"baseDelay": "x"}}, "settings.retry.baseDelay", "got 'x'"),
    ],
)
def test_invalid_setting_values_are_located(
    settings: dict[str, Any], location: str, fragment: str
) -> None:
    """A bad value is one problem at settings.<key>, saying what was wrong with it."""
    (problem,) = problems_of(manifest_dict(settings=settings))
    assert problem.startswith(f"{location}: ")
    assert fragment in problem


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"poll": {"interval": 30, "maxInterval": 10}},
            "settings.poll.maxInterval: must be at least poll.interval (30s), got 10s",
        ),
        (
            {"poll": {"maxInterval": "10s"}},
            "settings.poll.maxInterval: must be at least poll.interval (20s), got 10s",
        ),
        (
            {"retry": {"baseDelay": 10, "maxDelay": 1}},
            "settings.retry.maxDelay: must be at least retry.baseDelay",
        ),
    ],
)
def test_settings_that_contradict_each_other_are_located(
    settings: dict[str, Any], expected: str
) -> None:
    """Limits that cannot hold together (even against a default) name the key to change."""
    assert problems_of(manifest_dict(settings=settings)) == [expected]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"ratelimit": 3}, "settings.ratelimit: unknown key; did you mean rateLimit?"),
        ({"maxInflight": 3}, "settings.maxInflight: unknown key; did you mean maxInFlight?"),
        (
            {"requesttimeout": 3},
            "settings.requesttimeout: unknown key; did you mean requestTimeout?",
        ),
        (
            {"poll": {"intervall": 3}},
            "settings.poll.intervall: unknown key; did you mean interval?",
        ),
        (
            {"retry": {"maxdelay": 1}},
            "settings.retry.maxdelay: unknown key; did you mean maxDelay?",
        ),
        ({"bogus": 1}, "settings.bogus: unknown key"),
    ],
)
def test_unknown_settings_keys_suggest_the_known_spelling(
    settings: dict[str, Any], expected: str
) -> None:
    """Settings are batchcreate's own contract: an unknown key is an error, with a suggestion."""
    assert problems_of(manifest_dict(settings=settings)) == [expected]


def test_settings_must_be_a_mapping() -> None:
    """A list where settings belong is refused at settings."""
    data = manifest_dict()
    data["settings"] = [1]
    assert problems_of(data) == ["settings: must be a mapping of keys to values, got [1]"]


def test_every_bad_setting_is_reported_together() -> None:
    """Several bad settings keys give one problem each, in one error."""
    settings = {"rateLimit": 0, "maxInFlight": "x", "poll": {"backoff": 0.5}, "ratelimit": 1}
    problems = problems_of(manifest_dict(settings=settings))
    assert sorted(p.split(":")[0] for p in problems) == [
        "settings.maxInFlight",
        "settings.poll.backoff",
        "settings.rateLimit",
        "settings.ratelimit",
    ]


def test_contradicting_settings_are_reported_beside_a_bad_value() -> None:
    """A bad value elsewhere in settings does not hide that maxInterval is below interval."""
    settings = {"rateLimit": 0, "poll": {"interval": 30, "maxInterval": 10}}
    problems = problems_of(manifest_dict(settings=settings))
    assert "settings.poll.maxInterval: must be at least poll.interval (30s), got 10s" in problems
    assert any(p.startswith("settings.rateLimit: ") for p in problems)
    assert len(problems) == 2
