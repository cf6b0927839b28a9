"""JUnit XML of a report, parsed back with ElementTree and checked against the report."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from batchcreate.app import execute
from batchcreate.auth import NoAuth
from batchcreate.clock import VirtualClock
from batchcreate.junit import render_junit, write_junit
from batchcreate.manifest import build_plan
from batchcreate.report import ClusterResult, LastError, Outcome, Report, RunState, Summary
from batchcreate.simulator.fake_cce import Behaviour, FakeCce, SimulatorConfig
from batchcreate.simulator.memory import InMemoryTransport
from tests.conftest import manifest_dict

NORTH = "https://cce.cn-north-4.myhuaweicloud.com"
SOUTH = "https://cce.cn-south-1.myhuaweicloud.com"
ODD_REASON = "quota <exceeded> & \"full\"\n'again'\x1b[0m \x00 ünïcødé 🚀"


def cluster(
    project: str, name: str, outcome: Outcome, seconds: float | None = None, **extra: Any
) -> ClusterResult:
    return ClusterResult(
        project=project,
        region=extra.pop("region", "cn-north-4"),
        endpoint=extra.pop("endpoint", NORTH),
        name=name,
        location=f"{project}/0",
        outcome=outcome,
        submit_to_terminal_seconds=seconds,
        **extra,
    )


def report_of(clusters: list[ClusterResult], batch: str = "nightly & <co>") -> Report:
    return Report(
        batch=batch,
        state=RunState.FINISHED,
        started_at="2026-01-01T00:00:00.000Z",
        finished_at="2026-01-01T00:30:00.000Z",
        duration_seconds=1800.0,
        settings={},
        summary=Summary.of(clusters),
        clusters=clusters,
        exit_code=1,
    )


def hand_built() -> Report:
    """Every outcome across two projects, with an odd reason and a full last error."""
    return report_of(
        [
            cluster("p1", "created-one", Outcome.CREATED, 300.5),
            cluster("p1", "existing-one", Outcome.EXISTING),
            cluster(
                "p1",
                "failed-one",
                Outcome.FAILED,
                120.25,
                reason=ODD_REASON,
                job_id="job-1",
                job_phase="Failed",
                cluster_id="uid-1",
                cluster_phase="Error",
                attempts=1,
                polls=4,
            ),
            cluster("p1", "slow-one", Outcome.TIMED_OUT, 1800.0, reason="still Running after 30m"),
            cluster(
                "p2",
                "bad <flavor>",
                Outcome.REJECTED,
                last_error=LastError(
                    http_status=400,
                    error_code="CCE.01400001",
                    message='flavor "x" & <y> unknown',
                    request_id="req-42",
                    code="api.rejected",
                ),
                region="cn-south-1",
                endpoint=SOUTH,
            ),
            cluster("p2", "late-one", Outcome.NOT_STARTED, region="cn-south-1", endpoint=SOUTH),
            cluster(
                "p2",
                "cut-one",
                Outcome.INTERRUPTED,
                12.0,
                reason="in progress when this report was written",
                region="cn-south-1",
                endpoint=SOUTH,
            ),
        ]
    )


def parse(report: Report) -> ET.Element:
    text = render_junit(report)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def counts(element: ET.Element) -> dict[str, str]:
    return {k: element.attrib[k] for k in ("tests", "failures", "errors", "skipped", "time")}


def test_one_suite_per_project_with_correct_counts() -> None:
    """Each project is a suite whose counts and time match its clusters' outcomes and durations."""
    root = parse(hand_built())
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.attrib["name"] for s in suites] == ["p1", "p2"]
    p1, p2 = suites
    assert counts(p1) == {
        "tests": "4",
        "failures": "2",
        "errors": "0",
        "skipped": "0",
        "time": "2220.750",
    }
    assert counts(p2) == {
        "tests": "3",
        "failures": "1",
        "errors": "2",
        "skipped": "0",
        "time": "12.000",
    }
    assert len(p1.findall("testcase")) == 4
    assert len(p2.findall("testcase")) == 3


def test_root_counts_are_the_sums_over_suites() -> None:
    """The testsuites element sums tests, failures, errors, skipped and time of its suites."""
    root = parse(hand_built())
    assert root.attrib["name"] == "nightly & <co>"
    assert counts(root) == {
        "tests": "7",
        "failures": "3",
        "errors": "2",
        "skipped": "0",
        "time": "2232.750",
    }
    for key in ("tests", "failures", "errors", "skipped"):
        assert int(root.attrib[key]) == sum(int(s.attrib[key]) for s in root.iter("testsuite"))
        assert int(root.attrib[key]) == sum(
            1 if key == "tests" else len(case.findall(key.rstrip("s")))
            for case in root.iter("testcase")
        )


def test_suites_carry_endpoint_region_and_hostname() -> None:
    """A suite names its endpoint as a property and its host in the hostname attribute."""
    root = parse(hand_built())
    p1, p2 = root.findall("testsuite")
    properties = {p.attrib["name"]: p.attrib["value"] for p in p2.iter("property")}
    assert properties == {
        "batch": "nightly & <co>",
        "project": "p2",
        "region": "cn-south-1",
        "endpoint": SOUTH,
    }
    assert p1.attrib["hostname"] == "cce.cn-north-4.myhuaweicloud.com"
    assert p2.attrib["hostname"] == "cce.cn-south-1.myhuaweicloud.com"
    assert p1.attrib["timestamp"] == "2026-01-01T00:00:00"


def test_each_cluster_is_a_case_named_by_cluster_with_the_project_as_class() -> None:
    """Cases keep the report's order, names (escaped characters included) and times."""
    root = parse(hand_built())
    cases = [
        (c.attrib["classname"], c.attrib["name"], c.attrib["time"]) for c in root.iter("testcase")
    ]
    assert cases == [
        ("p1", "created-one", "300.500"),
        ("p1", "existing-one", "0.000"),
        ("p1", "failed-one", "120.250"),
        ("p1", "slow-one", "1800.000"),
        ("p2", "bad <flavor>", "0.000"),
        ("p2", "late-one", "0.000"),
        ("p2", "cut-one", "12.000"),
    ]


def test_outcomes_map_to_pass_failure_and_error() -> None:
    """Created and existing pass, failed/timed_out/rejected fail, not_started/interrupted error."""
    root = parse(hand_built())
    results = {}
    for case in root.iter("testcase"):
        children = list(case)
        assert len(children) <= 1
        results[case.attrib["name"]] = (
            (children[0].tag, children[0].attrib["type"]) if children else None
        )
    assert results == {
        "created-one": None,
        "existing-one": None,
        "failed-one": ("failure", "failed"),
        "slow-one": ("failure", "timed_out"),
        "bad <flavor>": ("failure", "rejected"),
        "late-one": ("error", "not_started"),
        "cut-one": ("error", "interrupted"),
    }
    assert not list(root.iter("skipped"))


def test_odd_characters_in_reasons_survive_and_control_characters_are_shown() -> None:
    """Markup characters round-trip exactly; characters XML cannot hold appear as \\xNN."""
    root = parse(hand_built())
    failure = next(c for c in root.iter("testcase") if c.attrib["name"] == "failed-one")[0]
    shown = ODD_REASON.replace("\x1b", "\\x1b").replace("\x00", "\\x00")
    assert failure.attrib["message"] == shown
    assert failure.text is not None
    assert f"reason: {shown}" in failure.text
    assert "job: job-1 (phase Failed)" in failure.text
    assert "cluster: uid-1 (phase Error)" in failure.text
    assert "attempts: 1, polls: 4" in failure.text


def test_the_last_error_is_the_message_and_its_details_are_in_the_text() -> None:
    """Without a reason, the message is the last error's, and the text has status and request."""
    root = parse(hand_built())
    failure = next(c for c in root.iter("testcase") if c.attrib["name"] == "bad <flavor>")[0]
    assert failure.attrib["message"] == 'flavor "x" & <y> unknown'
    assert failure.text is not None
    assert (
        'last error: api.rejected HTTP 400 CCE.01400001: flavor "x" & <y> unknown (request req-42)'
        in failure.text
    )
    assert f"endpoint: {SOUTH}" in failure.text
    late = next(c for c in root.iter("testcase") if c.attrib["name"] == "late-one")[0]
    assert late.attrib["message"] == "cluster not_started"


def test_a_project_at_two_endpoints_gets_two_distinct_suites() -> None:
    """The same project id at two endpoints is split into suites named with their hosts."""
    root = parse(
        report_of(
            [
                cluster("p1", "north-one", Outcome.CREATED, 5.0),
                cluster("p1", "south-one", Outcome.FAILED, 7.0, endpoint=SOUTH, reason="x"),
                cluster("p2", "plain-one", Outcome.CREATED, 1.0),
            ]
        )
    )
    names = [s.attrib["name"] for s in root.findall("testsuite")]
    assert names == [
        "p1 @ cce.cn-north-4.myhuaweicloud.com",
        "p1 @ cce.cn-south-1.myhuaweicloud.com",
        "p2",
    ]
    classnames = [c.attrib["classname"] for c in root.iter("testcase")]
    assert classnames == names


def test_an_empty_report_is_an_empty_valid_document() -> None:
    """No clusters: a testsuites root with zero counts and no suites."""
    root = parse(report_of([]))
    assert counts(root) == {
        "tests": "0",
        "failures": "0",
        "errors": "0",
        "skipped": "0",
        "time": "0.000",
    }
    assert root.findall("testsuite") == []


def test_write_junit_replaces_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """The document is written whole over an old file, with nothing else left in the directory."""
    path = tmp_path / "junit.xml"
    path.write_text("old")
    write_junit(path, render_junit(hand_built()))
    assert ET.parse(path).getroot().attrib["tests"] == "7"
    assert os.listdir(tmp_path) == ["junit.xml"]


async def test_junit_of_a_real_run_in_virtual_time_matches_its_report() -> None:
    """A small batch with a failed job: the JUnit counts and failures agree with the report."""
    clock = VirtualClock()
    reason = "Failed to create master node: no capacity"
    cce = FakeCce(
        SimulatorConfig(
            job_duration=300.0,
            duration_jitter=0.0,
            seed=3,
            behaviours={"doomed-one": Behaviour(job_phase="Failed", reason=reason)},
        ),
        clock=clock,
    )
    cce.seed_cluster("p2", "old-one")
    plan = build_plan(
        manifest_dict({"p1": ["alpha-one", "doomed-one"], "p2": ["old-one", "beta-one"]})
    )
    report = (await clock.run(execute(plan, InMemoryTransport(cce), NoAuth(), clock))).report
    root = parse(report)

    summary = report.summary
    assert int(root.attrib["tests"]) == summary.total == 4
    assert int(root.attrib["failures"]) == summary.failed + summary.timed_out + summary.rejected
    assert int(root.attrib["failures"]) == 1
    assert int(root.attrib["errors"]) == summary.not_started + summary.interrupted == 0
    assert [s.attrib["name"] for s in root.findall("testsuite")] == ["p1", "p2"]
    times = {c.attrib["name"]: float(c.attrib["time"]) for c in root.iter("testcase")}
    for result in report.clusters:
        assert times[result.name] == pytest.approx(result.submit_to_terminal_seconds or 0.0)
    assert times["alpha-one"] > 300.0
    failures = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert [c.attrib["name"] for c in failures] == ["doomed-one"]
    assert failures[0][0].attrib["message"] == reason
