"""Includes: projects split across files, globs, nested files, defaults per file, located errors."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchcreate.credentials import CredentialKind, ProfileEntry, resolve_credentials
from batchcreate.errors import ManifestError
from batchcreate.manifest import build_plan, load_manifest
from batchcreate.plan import BatchPlan
from tests.conftest import BASE_DEFAULTS

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, data: Any) -> Path:
    """``data`` as YAML at ``path``, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def project(pid: str, *names: str, **extra: Any) -> dict[str, Any]:
    """A project entry in cn-north-4 listing clusters by name."""
    return {
        "id": pid,
        "region": "cn-north-4",
        **extra,
        "clusters": [{"metadata": {"name": n}} for n in names],
    }


def top(include: Any, *projects: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A top manifest with the shared defaults, ``include`` and its own ``projects``."""
    data: dict[str, Any] = {"name": "split", "defaults": copy.deepcopy(BASE_DEFAULTS)}
    data.update(extra)
    data["include"] = include
    if projects:
        data["projects"] = list(projects)
    return data


def load_problems(path: Path) -> list[str]:
    """The problems ``load_manifest`` raises for ``path``, as one-line strings."""
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    return [str(p) for p in info.value.problems]


def where(plan: BatchPlan) -> list[tuple[str, str, str]]:
    """(project id, cluster location, cluster name) for every planned cluster, in order."""
    return [(p.id, c.location, c.name) for p in plan.projects for c in p.clusters]


# ---- Reading included files ----------------------------------------------------------------


def test_included_projects_follow_the_top_ones_in_include_order(tmp_path: Path) -> None:
    """Own projects first, then each file in include order, globs sorted; all located by file."""
    write(tmp_path / "teams" / "b.yaml", {"projects": [project("proj-b", "beta-one")]})
    write(tmp_path / "teams" / "a.yaml", {"projects": [project("proj-a", "alpha-one")]})
    write(tmp_path / "east.yaml", {"projects": [project("proj-e", "east-one", "east-two")]})
    path = write(
        tmp_path / "fleet.yaml", top(["east.yaml", "teams/*.yaml"], project("proj-0", "zero-one"))
    )
    plan = load_manifest(path)
    assert where(plan) == [
        ("proj-0", "projects[0].clusters[0]", "zero-one"),
        ("proj-e", "east.yaml: projects[0].clusters[0]", "east-one"),
        ("proj-e", "east.yaml: projects[0].clusters[1]", "east-two"),
        ("proj-a", "teams/a.yaml: projects[0].clusters[0]", "alpha-one"),
        ("proj-b", "teams/b.yaml: projects[0].clusters[0]", "beta-one"),
    ]
    assert [p.location for p in plan.projects] == [
        "projects[0]",
        "east.yaml: projects[0]",
        "teams/a.yaml: projects[0]",
        "teams/b.yaml: projects[0]",
    ]
    assert plan.name == "split"


def test_an_included_file_is_json_or_yaml_by_its_content(tmp_path: Path) -> None:
    """A JSON included file (whatever its name) is read like the YAML ones."""
    (tmp_path / "more.conf").write_text(
        json.dumps({"projects": [project("proj-j", "json-one")]}), encoding="utf-8"
    )
    plan = load_manifest(write(tmp_path / "fleet.yaml", top(["more.conf"])))
    assert where(plan) == [("proj-j", "more.conf: projects[0].clusters[0]", "json-one")]


def test_a_single_include_string_is_one_entry(tmp_path: Path) -> None:
    """include: east.yaml means include: [east.yaml]."""
    write(tmp_path / "east.yaml", {"projects": [project("proj-e", "east-one")]})
    plan = load_manifest(write(tmp_path / "fleet.yaml", top("east.yaml")))
    assert [c.name for p in plan.projects for c in p.clusters] == ["east-one"]


def test_nested_includes_are_relative_to_the_file_that_names_them(tmp_path: Path) -> None:
    """teams/index.yaml including b.yaml reads teams/b.yaml, located as such."""
    write(tmp_path / "teams" / "b.yaml", {"projects": [project("proj-b", "beta-one")]})
    write(
        tmp_path / "teams" / "index.yaml",
        {"include": ["b.yaml"], "projects": [project("proj-i", "index-one")]},
    )
    plan = load_manifest(write(tmp_path / "fleet.yaml", top(["teams/index.yaml"])))
    assert where(plan) == [
        ("proj-i", "teams/index.yaml: projects[0].clusters[0]", "index-one"),
        ("proj-b", "teams/b.yaml: projects[0].clusters[0]", "beta-one"),
    ]


def test_recursive_globs_reach_subdirectories(tmp_path: Path) -> None:
    """** matches files at any depth, in sorted order."""
    write(tmp_path / "teams" / "x" / "deep.yaml", {"projects": [project("proj-d", "deep-one")]})
    write(tmp_path / "teams" / "top.yaml", {"projects": [project("proj-t", "top-one")]})
    plan = load_manifest(write(tmp_path / "fleet.yaml", top(["teams/**/*.yaml"])))
    assert [p.location for p in plan.projects] == [
        "teams/top.yaml: projects[0]",
        "teams/x/deep.yaml: projects[0]",
    ]


def test_a_glob_never_matches_the_file_that_holds_it(tmp_path: Path) -> None:
    """include: ['*.yaml'] beside the top manifest includes its siblings, not itself."""
    write(tmp_path / "east.yaml", {"projects": [project("proj-e", "east-one")]})
    plan = load_manifest(write(tmp_path / "fleet.yaml", top(["*.yaml"])))
    assert [p.location for p in plan.projects] == ["east.yaml: projects[0]"]


def test_a_file_named_twice_in_one_list_is_read_once(tmp_path: Path) -> None:
    """A path and a glob that both match one file read it once: no duplicate projects."""
    write(tmp_path / "teams" / "a.yaml", {"projects": [project("proj-a", "alpha-one")]})
    write(tmp_path / "teams" / "b.yaml", {"projects": [project("proj-b", "beta-one")]})
    plan = load_manifest(write(tmp_path / "fleet.yaml", top(["teams/a.yaml", "teams/*.yaml"])))
    assert [p.id for p in plan.projects] == ["proj-a", "proj-b"]


def test_without_a_file_includes_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_plan on a dict reads its includes from the current directory."""
    write(tmp_path / "east.yaml", {"projects": [project("proj-e", "east-one")]})
    monkeypatch.chdir(tmp_path)
    assert where(build_plan(top(["east.yaml"]))) == [
        ("proj-e", "east.yaml: projects[0].clusters[0]", "east-one")
    ]


def test_templates_in_included_files_are_located_with_the_file(tmp_path: Path) -> None:
    """A template in an included file expands, each cluster located file: template[index]."""
    entry = {"metadata": {"name": "edge-{index:02d}"}, "count": 2}
    write(
        tmp_path / "edge.yaml",
        {"projects": [{"id": "p", "region": "cn-north-4", "clusters": [entry]}]},
    )
    plan = load_manifest(write(tmp_path / "fleet.yaml", top(["edge.yaml"])))
    assert [(c.location, c.name) for c in plan.projects[0].clusters] == [
        ("edge.yaml: projects[0].clusters[0][0]", "edge-00"),
        ("edge.yaml: projects[0].clusters[0][1]", "edge-01"),
    ]


# ---- Defaults ------------------------------------------------------------------------------


def test_a_files_defaults_apply_to_its_projects_and_the_files_it_includes(tmp_path: Path) -> None:
    """Top defaults reach all; a file's defaults reach its own and nested projects, not others."""
    write(
        tmp_path / "teams" / "index.yaml",
        {
            "defaults": {"metadata": {"labels": {"team": "t", "tier": "index"}}},
            "include": ["deep.yaml"],
            "projects": [project("proj-i", "index-one")],
        },
    )
    write(
        tmp_path / "teams" / "deep.yaml",
        {
            "defaults": {"metadata": {"labels": {"tier": "deep"}}},
            "projects": [
                project("proj-d", "deep-one", defaults={"metadata": {"labels": {"own": "yes"}}})
            ],
        },
    )
    write(tmp_path / "other.yaml", {"projects": [project("proj-o", "other-one")]})
    data = top(["teams/index.yaml", "other.yaml"], project("proj-0", "zero-one"))
    data["defaults"]["metadata"] = {"labels": {"fleet": "f"}}
    plan = load_manifest(write(tmp_path / "fleet.yaml", data))
    labels = {c.name: c.body["metadata"]["labels"] for p in plan.projects for c in p.clusters}
    assert labels == {
        "zero-one": {"fleet": "f"},
        "index-one": {"fleet": "f", "team": "t", "tier": "index"},
        "deep-one": {"fleet": "f", "team": "t", "tier": "deep", "own": "yes"},
        "other-one": {"fleet": "f"},
    }


def test_a_misspelt_key_in_an_included_files_defaults_is_located_there(tmp_path: Path) -> None:
    """A near-miss key in a file's defaults is one problem, at that file's defaults."""
    write(
        tmp_path / "east.yaml",
        {
            "defaults": {"spec": {"hostNetwok": {"vpc": "v"}}},
            "projects": [project("proj-e", "east-one", "east-two")],
        },
    )
    assert load_problems(write(tmp_path / "fleet.yaml", top(["east.yaml"]))) == [
        "east.yaml: defaults.spec.hostNetwok: unknown field; did you mean hostNetwork?"
    ]


def test_a_bad_value_from_an_included_files_defaults_is_reported_once(tmp_path: Path) -> None:
    """A bad inherited value is located where it was written: the included file's defaults."""
    write(
        tmp_path / "east.yaml",
        {"defaults": {"spec": {"type": "VM"}}, "projects": [project("e", "east-one", "east-two")]},
    )
    (problem,) = load_problems(write(tmp_path / "fleet.yaml", top(["east.yaml"])))
    assert problem.startswith("east.yaml: defaults.spec.type: 'VM' is not one of")


# ---- Located errors ------------------------------------------------------------------------


def test_a_cluster_problem_in_an_included_file_names_the_file(tmp_path: Path) -> None:
    """teams/b.yaml: projects[0].clusters[1] (x): ... as the brief of every error promises."""
    bad = project("proj-b", "beta-one", "beta-two")
    bad["clusters"][1]["spec"] = {"flavor": 3}
    write(tmp_path / "teams" / "b.yaml", {"projects": [bad]})
    assert load_problems(write(tmp_path / "fleet.yaml", top(["teams/*.yaml"]))) == [
        "teams/b.yaml: projects[0].clusters[1] (beta-two): spec.flavor: must be a string, "
        "got 3 (quote it in YAML)"
    ]


def test_a_project_problem_in_an_included_file_suggests_like_the_top_one(tmp_path: Path) -> None:
    """Unknown project keys in an included file get the same suggestions, with the file."""
    write(tmp_path / "east.yaml", {"projects": [project("proj-e", "east-one", regoin="x")]})
    assert load_problems(write(tmp_path / "fleet.yaml", top(["east.yaml"]))) == [
        "east.yaml: projects[0].regoin: unknown key; did you mean region?"
    ]


def test_a_project_listed_in_two_files_names_both(tmp_path: Path) -> None:
    """The same project id and endpoint in two files is refused where it repeats."""
    write(tmp_path / "a.yaml", {"projects": [project("proj-x", "alpha-one")]})
    write(tmp_path / "b.yaml", {"projects": [project("proj-x", "beta-one")]})
    assert load_problems(write(tmp_path / "fleet.yaml", top(["a.yaml", "b.yaml"]))) == [
        "b.yaml: projects[0].id: project proj-x at https://cce.cn-north-4.myhuaweicloud.com is "
        "already listed as a.yaml: projects[0]; merge their clusters into one entry"
    ]


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        (["nope.yaml"], "include[0]: nope.yaml: no such file"),
        (["teams/*.yaml"], "include[0]: 'teams/*.yaml' matches no file"),
        (["sub"], "include[0]: sub: is a directory, not a manifest file"),
        (5, "include: must be a list of file paths or globs, got 5"),
        ([""], "include[0]: must be a file path or glob, got ''"),
        (["fleet.yaml"], "include[0]: include cycle: fleet.yaml → fleet.yaml"),
    ],
)
def test_bad_include_entries_are_located_at_the_entry(
    tmp_path: Path, include: Any, expected: str
) -> None:
    """Missing files, empty globs, directories, bad values and self-inclusion are one problem."""
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "fleet.yaml", top(include, project("proj-0", "zero-one")))
    assert load_problems(path) == [expected]


def test_an_include_cycle_names_every_file_in_it(tmp_path: Path) -> None:
    """a.yaml → b.yaml → a.yaml is refused at the entry that closes the cycle."""
    write(tmp_path / "a.yaml", {"include": ["b.yaml"], "projects": [project("pa", "alpha-one")]})
    write(tmp_path / "b.yaml", {"include": ["a.yaml"], "projects": [project("pb", "beta-one")]})
    assert load_problems(write(tmp_path / "fleet.yaml", top(["a.yaml"]))) == [
        "b.yaml: include[0]: include cycle: fleet.yaml → a.yaml → b.yaml → a.yaml"
    ]


def test_a_cycle_back_to_the_top_manifest_is_refused(tmp_path: Path) -> None:
    """An included file that includes the top manifest closes a cycle through it."""
    write(tmp_path / "teams" / "a.yaml", {"include": ["../fleet.yaml"], "projects": []})
    data = top(["teams/a.yaml"], project("proj-0", "zero-one"))
    assert load_problems(write(tmp_path / "fleet.yaml", data)) == [
        "teams/a.yaml: include[0]: include cycle: fleet.yaml → teams/a.yaml → fleet.yaml"
    ]


def test_a_file_included_from_two_files_is_refused(tmp_path: Path) -> None:
    """A file reached along two paths (not a cycle) is an error naming the first way."""
    write(tmp_path / "shared.yaml", {"projects": [project("proj-s", "shared-one")]})
    write(tmp_path / "a.yaml", {"include": ["shared.yaml"]})
    write(tmp_path / "b.yaml", {"include": ["shared.yaml"]})
    assert load_problems(write(tmp_path / "fleet.yaml", top(["a.yaml", "b.yaml"]))) == [
        "b.yaml: include[0]: shared.yaml is already included by a.yaml: include[0]; "
        "include each file from one place only"
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {"projetcs": [], "projects": []},
            ["east.yaml: projetcs: unknown key; did you mean projects?"],
        ),
        (
            {"projects": [], "settings": {"rateLimit": 1}},
            [
                "east.yaml: settings: only the top manifest sets settings: it applies to the whole "
                "batch"
            ],
        ),
        (
            {"projects": [], "name": "x"},
            ["east.yaml: name: only the top manifest sets name: it applies to the whole batch"],
        ),
        (
            {"projects": [], "colour": 1},
            ["east.yaml: colour: unknown key; an included file holds projects, defaults, include"],
        ),
        ({"projects": {"id": "p"}}, ["east.yaml: projects: must be a list of projects"]),
        (
            {"projects": [], "defaults": [1]},
            ["east.yaml: defaults: must be a mapping laid under this file's clusters"],
        ),
        ({"defaults": {}}, ["east.yaml: lists no projects and includes no file"]),
        (["a", "b"], ["east.yaml: an included file must be a mapping with projects, got list"]),
    ],
)
def test_an_included_files_shape_is_checked(
    tmp_path: Path, content: Any, expected: list[str]
) -> None:
    """Unknown keys (with suggestions), top-only keys and wrong types are located at the file."""
    write(tmp_path / "east.yaml", content)
    path = write(tmp_path / "fleet.yaml", top(["east.yaml"], project("proj-0", "zero-one")))
    assert load_problems(path) == expected


def test_a_syntax_error_in_an_included_file_names_its_line(tmp_path: Path) -> None:
    """YAML errors in an included file are located file:line:column."""
    (tmp_path / "east.yaml").write_text("projects:\n  - id: p\n   region: x\n", encoding="utf-8")
    path = write(tmp_path / "fleet.yaml", top(["east.yaml"], project("proj-0", "zero-one")))
    (problem,) = load_problems(path)
    assert problem.startswith("east.yaml:3:4: invalid YAML: ")


def test_a_secret_in_an_included_file_is_refused_there(tmp_path: Path) -> None:
    """A literal secret in an included file is located with the file, and never echoed."""
    secret = project("proj-e", "east-one", credentials={"env": "EAST", "sk": "s3cr3t-value"})
    write(tmp_path / "east.yaml", {"projects": [secret]})
    problems = load_problems(write(tmp_path / "fleet.yaml", top(["east.yaml"])))
    assert any(
        p.startswith("east.yaml: projects[0].credentials.sk: holds a literal secret")
        for p in problems
    )
    assert not any("s3cr3t-value" in p for p in problems)


def test_a_manifest_whose_includes_list_no_project_is_refused(tmp_path: Path) -> None:
    """Projects may all live in included files, but there must be at least one somewhere."""
    write(tmp_path / "empty.yaml", {"projects": []})
    assert load_problems(write(tmp_path / "fleet.yaml", top(["empty.yaml"]))) == [
        "projects: neither the manifest nor the files it includes list a project"
    ]


def test_a_misspelt_include_key_is_suggested(tmp_path: Path) -> None:
    """includes: at the top is an unknown key with a suggestion, like every top-level key."""
    data = top(["x.yaml"], project("proj-0", "zero-one"))
    data["includes"] = data.pop("include")
    assert load_problems(write(tmp_path / "fleet.yaml", data)) == [
        "includes: unknown key; did you mean include?"
    ]


# ---- Credentials ---------------------------------------------------------------------------


def test_relative_profile_paths_of_included_projects_follow_their_file(tmp_path: Path) -> None:
    """An included project's relative profile path is anchored at its own file's directory."""
    write(
        tmp_path / "teams" / "a.yaml",
        {
            "projects": [
                project("proj-a", "alpha-one", credentials={"profile": "creds.ini"}),
                project("proj-h", "home-one", credentials={"profile": "~/creds.ini"}),
            ]
        },
    )
    data = top(["teams/a.yaml"], project("proj-0", "zero-one", credentials={"profile": "top.ini"}))
    plan = load_manifest(write(tmp_path / "fleet.yaml", data))
    assert [p.credentials for p in plan.projects] == [
        ProfileEntry("top.ini"),
        ProfileEntry(str(tmp_path / "teams" / "creds.ini")),
        ProfileEntry("~/creds.ini"),
    ]


def test_an_included_projects_profile_is_found_beside_its_file(tmp_path: Path) -> None:
    """Resolving the anchored entry reads the profile next to the included file."""
    profile = tmp_path / "teams" / "creds.ini"
    profile.parent.mkdir()
    profile.write_text("[basic]\nak = AKTEAMS\nsk = sk-teams\n", encoding="utf-8")
    profile.chmod(0o600)
    write(
        tmp_path / "teams" / "a.yaml",
        {"projects": [project("proj-a", "alpha-one", credentials={"profile": "creds.ini"})]},
    )
    plan = load_manifest(write(tmp_path / "fleet.yaml", top(["teams/a.yaml"])))
    found = resolve_credentials(
        plan.projects[0].credentials, environ={}, home=tmp_path / "home", base_dir=plan.source_dir
    ).found
    assert (found.kind, found.ak) == (CredentialKind.AKSK, "AKTEAMS")


# ---- The command ---------------------------------------------------------------------------


def batchcreate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m batchcreate`` in ``cwd`` without ambient credentials."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BATCHCREATE", "HUAWEI"))}
    return subprocess.run(
        [sys.executable, "-m", "batchcreate", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=120,
    )


def split_fleet(tmp_path: Path) -> Path:
    """A top manifest of one project including a file of one project with a template."""
    entry = {"metadata": {"name": "edge-{index:02d}"}, "count": 3}
    edge = project("proj-e")
    edge["clusters"] = [entry]
    write(tmp_path / "teams" / "edge.yaml", {"projects": [edge]})
    data = top(["teams/*.yaml"], project("proj-0", "zero-one"))
    data["settings"] = {"poll": {"initialDelay": "20s", "interval": "5s", "maxInterval": "10s"}}
    return write(tmp_path / "fleet.yaml", data)


def test_validate_summarises_included_projects(tmp_path: Path) -> None:
    """validate counts and names the clusters of included files and templates like any other."""
    done = batchcreate("validate", str(split_fleet(tmp_path)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "batch split: 4 clusters in 2 projects" in done.stdout
    assert (
        "project proj-e (cn-north-4, https://cce.cn-north-4.myhuaweicloud.com): "
        "3 clusters: edge-00, edge-01, edge-02" in done.stdout
    )


def test_validate_locates_an_error_in_an_included_file(tmp_path: Path) -> None:
    """An error in an included file reaches stderr naming that file; exit 2."""
    path = split_fleet(tmp_path)
    edge = tmp_path / "teams" / "edge.yaml"
    edge.write_text(edge.read_text(encoding="utf-8").replace("count: 3", "count: 0"))
    done = batchcreate("validate", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert (
        "teams/edge.yaml: projects[0].clusters[0] (edge-{index:02d}): count: must be a whole "
        "number ≥ 1, got 0" in done.stderr
    )


def test_the_report_locates_included_and_templated_clusters(tmp_path: Path) -> None:
    """A simulated run reports every cluster with the location that leads back to its entry."""
    report = tmp_path / "report.json"
    done = batchcreate(
        "run",
        str(split_fleet(tmp_path)),
        "--simulate",
        "--sim-job-duration",
        "0.2s",
        "--report",
        str(report),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    clusters = json.loads(report.read_text(encoding="utf-8"))["clusters"]
    assert [(c["name"], c["location"], c["outcome"]) for c in clusters] == [
        ("zero-one", "projects[0].clusters[0]", "created"),
        ("edge-00", "teams/edge.yaml: projects[0].clusters[0][0]", "created"),
        ("edge-01", "teams/edge.yaml: projects[0].clusters[0][1]", "created"),
        ("edge-02", "teams/edge.yaml: projects[0].clusters[0][2]", "created"),
    ]
