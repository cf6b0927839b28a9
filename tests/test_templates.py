"""Cluster templates: ``count`` and name patterns expand in place, located, with errors once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchcreate.errors import ManifestError, Problem
from batchcreate.manifest import build_plan, load_manifest
from batchcreate.plan import BatchPlan
from batchcreate.templates import MAX_COUNT, Entry, Expansion, collapse_repeats
from tests.conftest import BASE_DEFAULTS


def fleet(*clusters: dict[str, Any]) -> dict[str, Any]:
    """A one-project manifest listing ``clusters`` under the shared defaults."""
    return {
        "defaults": copy.deepcopy(BASE_DEFAULTS),
        "projects": [{"id": "proj-a", "region": "cn-north-4", "clusters": list(clusters)}],
    }


def template(pattern: object, count: object = 3, **extra: Any) -> dict[str, Any]:
    """A template entry named by ``pattern``."""
    return {"metadata": {"name": pattern}, "count": count, **extra}


def plain(name: str) -> dict[str, Any]:
    """A cluster entry written out by hand."""
    return {"metadata": {"name": name}}


def problems_of(data: Any) -> list[str]:
    """The problems ``build_plan`` raises for ``data``, as one-line strings."""
    with pytest.raises(ManifestError) as info:
        build_plan(data)
    return [str(p) for p in info.value.problems]


def located(plan: BatchPlan) -> list[tuple[str, str]]:
    """(location, name) of every planned cluster, in order."""
    return [(c.location, c.name) for p in plan.projects for c in p.clusters]


# ---- Expansion -----------------------------------------------------------------------------


def test_a_template_expands_in_place_with_located_names() -> None:
    """count: 3 makes three clusters between its neighbours, each located template[index]."""
    plan = build_plan(fleet(plain("first"), template("edge-{index:03d}"), plain("last")))
    assert located(plan) == [
        ("projects[0].clusters[0]", "first"),
        ("projects[0].clusters[1][0]", "edge-000"),
        ("projects[0].clusters[1][1]", "edge-001"),
        ("projects[0].clusters[1][2]", "edge-002"),
        ("projects[0].clusters[2]", "last"),
    ]


def test_start_shifts_the_index_in_names_and_locations() -> None:
    """start: 1 numbers the clusters from 1, and the location's index is the one in the name."""
    plan = build_plan(fleet(template("edge-{index:02d}", count=2, start=1)))
    assert located(plan) == [
        ("projects[0].clusters[0][1]", "edge-01"),
        ("projects[0].clusters[0][2]", "edge-02"),
    ]


def test_the_template_keys_never_reach_the_body() -> None:
    """count and start shape the expansion only; the create bodies do not carry them."""
    plan = build_plan(fleet(template("edge-{index}-x", count=2, start=5)))
    for cluster in plan.projects[0].clusters:
        assert not {"count", "start"} & cluster.body.keys()
        assert cluster.body["kind"] == "Cluster"


def test_labels_annotations_and_alias_are_patterns_too() -> None:
    """String values of labels and annotations, and the alias, are filled in per index."""
    entry = template("edge-{index:02d}", count=2)
    entry["metadata"].update(
        alias="Edge {index}",
        labels={"shard": "s{index}", "team": "edge"},
        annotations={"note": "{{literal}} #{index:x}"},
    )
    plan = build_plan(fleet(entry))
    assert [c.body["metadata"] for c in plan.projects[0].clusters] == [
        {
            "name": "edge-00",
            "alias": "Edge 0",
            "labels": {"shard": "s0", "team": "edge"},
            "annotations": {"note": "{literal} #0"},
        },
        {
            "name": "edge-01",
            "alias": "Edge 1",
            "labels": {"shard": "s1", "team": "edge"},
            "annotations": {"note": "{literal} #1"},
        },
    ]


def test_made_clusters_share_no_mutable_metadata() -> None:
    """Changing one made cluster's labels leaves its siblings and the template untouched."""
    entry = template("edge-{index:02d}", count=2)
    entry["metadata"]["labels"] = {"team": "edge"}
    data = fleet(entry)
    first, second = build_plan(data).projects[0].clusters
    first.body["metadata"]["labels"]["team"] = "changed"
    assert second.body["metadata"]["labels"] == {"team": "edge"}
    assert data["projects"][0]["clusters"][0]["metadata"]["labels"] == {"team": "edge"}


def test_templates_merge_defaults_like_any_cluster() -> None:
    """Project defaults lie under the made clusters, and the template's own spec over them."""
    data = fleet(template("edge-{index:02d}", count=2, spec={"flavor": "cce.s2.small"}))
    data["projects"][0]["defaults"] = {"spec": {"version": "v1.28", "flavor": "cce.s1.medium"}}
    specs = [c.body["spec"] for c in build_plan(data).projects[0].clusters]
    assert [(s["flavor"], s["version"], s["type"]) for s in specs] == [
        ("cce.s2.small", "v1.28", "VirtualMachine"),
        ("cce.s2.small", "v1.28", "VirtualMachine"),
    ]


def test_count_one_needs_no_index_field() -> None:
    """A template of one cluster may have a plain name."""
    assert located(build_plan(fleet(template("solo", count=1)))) == [
        ("projects[0].clusters[0][0]", "solo")
    ]


def labelled(pattern: str, count: int) -> dict[str, Any]:
    """A template whose clusters carry a ``shard`` label made from their index."""
    entry = template(pattern, count=count)
    entry["metadata"]["labels"] = {"shard": "s{index}"}
    return entry


def test_a_fleet_of_thousands_from_templates_loads(tmp_path: Path) -> None:
    """Eight projects of three templates each plan 4,800 clusters, every name unique per project."""
    projects = [
        {
            "id": f"proj-{p}",
            "region": "cn-north-4",
            "clusters": [
                labelled(f"{kind}-{{index:04d}}", 200) for kind in ("edge", "core", "data")
            ],
        }
        for p in range(8)
    ]
    path = tmp_path / "thousands.yaml"
    path.write_text(
        yaml.safe_dump({"defaults": copy.deepcopy(BASE_DEFAULTS), "projects": projects}),
        encoding="utf-8",
    )
    plan = load_manifest(path)
    assert plan.cluster_count == 4_800
    for project in plan.projects:
        assert len({c.name for c in project.clusters}) == 600
    last = plan.projects[-1].clusters[-1]
    assert (last.location, last.name) == ("projects[7].clusters[2][199]", "data-0199")
    assert last.body["metadata"]["labels"] == {"shard": "s199"}


# ---- Template errors -----------------------------------------------------------------------

HEAD = "projects[0].clusters[0] (edge-{index:03d})"


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (0, "must be a whole number ≥ 1, got 0"),
        (-2, "must be a whole number ≥ 1, got -2"),
        ("3", "must be a whole number ≥ 1, got '3'"),
        (2.5, "must be a whole number ≥ 1, got 2.5"),
        (True, "must be a whole number ≥ 1, got True"),
        (None, "must be a whole number ≥ 1, got None"),
        (MAX_COUNT + 1, f"must be a whole number from 1 to {MAX_COUNT}, got {MAX_COUNT + 1}"),
    ],
)
def test_a_bad_count_is_one_located_problem(count: object, message: str) -> None:
    """count must be a whole number from 1 to MAX_COUNT; anything else is one problem."""
    assert problems_of(fleet(template("edge-{index:03d}", count=count))) == [
        f"{HEAD}: count: {message}"
    ]


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (-1, "must be a whole number ≥ 0, got -1"),
        ("1", "must be a whole number ≥ 0, got '1'"),
        (False, "must be a whole number ≥ 0, got False"),
    ],
)
def test_a_bad_start_is_one_located_problem(start: object, message: str) -> None:
    """start must be a whole number from 0."""
    assert problems_of(fleet(template("edge-{index:03d}", start=start))) == [
        f"{HEAD}: start: {message}"
    ]


def test_start_without_count_is_refused() -> None:
    """start alone makes no template; the error says to add count."""
    entry = {"metadata": {"name": "edge-{index:03d}"}, "start": 1}
    assert problems_of(fleet(entry)) == [f"{HEAD}: start: only applies to a template; add count: N"]


def test_a_pattern_without_index_repeats_one_name() -> None:
    """count > 1 with a name lacking {index} would make one name N times: refused once."""
    assert problems_of(fleet(template("edge", count=4))) == [
        "projects[0].clusters[0] (edge): metadata.name: has no {index} field, so all 4 clusters "
        "would share 'edge'; write a pattern such as edge-{index:03d}"
    ]


def test_an_alias_without_index_repeats_one_alias() -> None:
    """count > 1 with a fixed alias would give every cluster the same alias: refused once."""
    entry = template("edge-{index:03d}", count=2)
    entry["metadata"]["alias"] = "Edge"
    (problem,) = problems_of(fleet(entry))
    assert problem.startswith(f"{HEAD}: metadata.alias: has no {{index}} field")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            "edge-{idx}",
            "unknown field {idx} in pattern 'edge-{idx}'; the only field is {index} "
            "(write literal braces as {{ and }})",
        ),
        (
            "edge-{}",
            "unknown field {} in pattern 'edge-{}'; the only field is {index} "
            "(write literal braces as {{ and }})",
        ),
        (
            "edge-{index.real}",
            "unknown field {index.real} in pattern 'edge-{index.real}'; the only field is "
            "{index} (write literal braces as {{ and }})",
        ),
        (
            "edge-{index!r}",
            "pattern 'edge-{index!r}': write the field as {index} or {index:SPEC}",
        ),
        (
            "edge-{index:q}",
            "pattern 'edge-{index:q}': Unknown format code 'q' for object of type 'int'",
        ),
        (
            "edge-{index",
            "pattern 'edge-{index': expected '}' before end of string "
            "(write literal braces as {{ and }})",
        ),
        (
            "edge-}{index}",
            "pattern 'edge-}{index}': Single '}' encountered in format string "
            "(write literal braces as {{ and }})",
        ),
    ],
)
def test_a_bad_name_pattern_says_why(pattern: str, message: str) -> None:
    """Unknown fields, conversions, bad format specs and stray braces each give the reason."""
    assert problems_of(fleet(template(pattern))) == [
        f"projects[0].clusters[0] ({pattern}): metadata.name: {message}"
    ]


def test_a_bad_label_pattern_is_located_at_the_label() -> None:
    """A pattern error in a label value names the label, once for the template."""
    entry = template("edge-{index:03d}")
    entry["metadata"]["labels"] = {"shard": "s{shard}"}
    (problem,) = problems_of(fleet(entry))
    assert problem.startswith(f"{HEAD}: metadata.labels.shard: unknown field {{shard}}")


def test_a_template_needs_a_name_pattern() -> None:
    """A template without metadata.name (or with a non-string one) cannot make names."""
    message = "metadata.name: a template needs a name pattern such as edge-{index:03d}"
    assert problems_of(fleet({"count": 2, "spec": {}})) == [f"projects[0].clusters[0]: {message}"]
    assert problems_of(fleet(template(7))) == [f"projects[0].clusters[0]: {message}"]


def test_an_index_pattern_without_count_is_refused() -> None:
    """A name holding {index} in a plain entry is a forgotten count, said once."""
    assert problems_of(fleet(plain("edge-{index:03d}"))) == [
        f"{HEAD}: metadata.name: is a name pattern, but the entry has no count; "
        "add count: N to make N clusters"
    ]


def test_names_that_break_the_rule_are_reported_once() -> None:
    """Fifty bad names are one problem at the template, quoting the first made name."""
    assert problems_of(fleet(template("Edge-{index}", count=50))) == [
        "projects[0].clusters[0] (Edge-{index}): metadata.name: at index 0, cluster name "
        "'Edge-0' must start with a lowercase letter, hold only lowercase letters, digits and "
        "'-', and end with a letter or digit; all 50 names break it"
    ]


def test_names_that_break_the_rule_for_some_indices_are_counted() -> None:
    """ab0..ab9 are too short but ab10..ab19 are fine: the first bad one and the count."""
    assert problems_of(fleet(template("ab{index}", count=20))) == [
        "projects[0].clusters[0] (ab{index}): metadata.name: at index 0, cluster name 'ab0' "
        "must be 4 to 128 characters long; 10 of the 20 names break it"
    ]


def test_a_made_name_taken_by_a_later_entry_is_reported_once_at_the_template() -> None:
    """A hand-written cluster named like a template's cluster is one problem, at the template."""
    data = fleet(template("edge-{index:03d}", count=10), plain("edge-005"), plain("edge-007"))
    assert problems_of(data) == [
        f"{HEAD}: metadata.name: makes edge-005 at index 5, but projects[0].clusters[1] "
        "already has that name; 2 of its names are taken"
    ]


def test_overlapping_templates_are_reported_once() -> None:
    """A copied template with the same pattern is one problem, not one per cluster."""
    data = fleet(template("edge-{index:03d}", count=100), template("edge-{index:03d}", count=100))
    assert problems_of(data) == [
        "projects[0].clusters[1] (edge-{index:03d}): metadata.name: makes edge-000 at index 0, "
        "but projects[0].clusters[0][0] already has that name; 100 of its names are taken"
    ]


def test_templates_with_disjoint_ranges_may_share_a_pattern() -> None:
    """Two templates of one pattern whose start values do not overlap are both valid."""
    data = fleet(template("edge-{index:03d}", count=5), template("edge-{index:03d}", 5, start=5))
    assert [name for _, name in located(build_plan(data))] == [f"edge-{i:03d}" for i in range(10)]


def test_a_problem_written_once_in_a_template_is_reported_once() -> None:
    """A bad value in the template's spec is one problem at the template, not one per cluster."""
    data = fleet(template("edge-{index:03d}", count=40, spec={"flavor": 3}))
    assert problems_of(data) == [f"{HEAD}: spec.flavor: must be a string, got 3 (quote it in YAML)"]


def test_a_misspelt_key_in_a_template_is_reported_once() -> None:
    """A near-miss key in the template is one suggestion at the template."""
    data = fleet(template("edge-{index:03d}", count=5, spec={"hostNetwok": {"vpc": "v"}}))
    assert problems_of(data) == [
        f"{HEAD}: spec.hostNetwok: unknown field; did you mean hostNetwork?"
    ]


def test_templates_and_plain_entries_report_problems_side_by_side() -> None:
    """A bad template hides no problem of a plain entry next to it, and vice versa."""
    data = fleet(template("edge-{index:03d}", count=0), {"metadata": {"name": "Bad_Name"}})
    problems = problems_of(data)
    assert f"{HEAD}: count: must be a whole number ≥ 1, got 0" in problems
    assert any(p.startswith("projects[0].clusters[1] (Bad_Name): metadata.name:") for p in problems)
    assert len(problems) == 2


# ---- Folding repeated problems -------------------------------------------------------------


def made(count: int) -> Expansion:
    """An expansion of one template ``t-{index}`` into ``count`` clusters."""
    head = "projects[0].clusters[0] (t-{index})"
    entries = [
        Entry(f"projects[0].clusters[0][{i}]", {"metadata": {"name": f"t-{i}"}}, head)
        for i in range(count)
    ]
    return Expansion(entries=entries, sizes={head: count})


def test_collapse_folds_a_problem_found_in_every_made_cluster() -> None:
    """The same path and message in all of a template's clusters becomes one, at the template."""
    problems = [Problem(f"projects[0].clusters[0][{i}] (t-{i}): spec.x", "bad") for i in range(3)]
    assert collapse_repeats(problems, made(3)) == [
        Problem("projects[0].clusters[0] (t-{index}): spec.x", "bad")
    ]


def test_collapse_counts_a_problem_found_in_some_made_clusters() -> None:
    """Found in two of five clusters, a problem stays at the first, saying one more has it."""
    problems = [
        Problem("projects[0].clusters[0][1] (t-1): spec.x", "bad"),
        Problem("projects[0].clusters[0][3] (t-3): spec.x", "bad"),
    ]
    assert collapse_repeats(problems, made(5)) == [
        Problem(
            "projects[0].clusters[0][1] (t-1): spec.x",
            "bad (and in 1 more of the template's clusters)",
        )
    ]


def test_collapse_keeps_distinct_and_foreign_problems_in_order() -> None:
    """Different messages stay apart, and problems of other entries pass through in order."""
    problems = [
        Problem("defaults.spec.type", "bad type"),
        Problem("projects[0].clusters[0][0] (t-0): metadata.alias", "equals x"),
        Problem("projects[0].clusters[1] (other)", "plain"),
        Problem("projects[0].clusters[0][1] (t-1): metadata.alias", "equals y"),
    ]
    assert collapse_repeats(problems, made(2)) == problems
