"""Merging shard reports: one result per cluster, summaries over all, clear refusals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from batchcreate.app import BatchRun, execute
from batchcreate.auth import NoAuth
from batchcreate.clock import VirtualClock
from batchcreate.errors import BatchcreateError
from batchcreate.manifest import build_plan
from batchcreate.merge import ReportError, load_report, merge_reports
from batchcreate.report import (
    SCHEMA_VERSION,
    ClusterResult,
    Outcome,
    Report,
    RunState,
    Summary,
    write_report,
)
from batchcreate.schemas import report_schema
from batchcreate.shard import Shard, select
from batchcreate.simulator.fake_cce import Behaviour, FakeCce, SimulatorConfig
from batchcreate.simulator.memory import InMemoryTransport
from tests.conftest import manifest_dict

EAST = "https://cce.cn-north-4.myhuaweicloud.com"


def result(
    name: str,
    outcome: Outcome = Outcome.CREATED,
    *,
    project: str = "proj-a",
    location: str | None = None,
    at: str | None = None,
) -> ClusterResult:
    """One cluster's result; ``at`` is when its outcome was known."""
    return ClusterResult(
        project=project,
        region="cn-north-4",
        endpoint=EAST,
        name=name,
        location=location or f"projects[0].clusters[{name}]",
        outcome=outcome,
        terminal_at=at,
    )


def report(
    clusters: list[ClusterResult],
    *,
    batch: str = "fleet",
    state: RunState = RunState.FINISHED,
    started: str = "2026-01-01T00:00:00.000Z",
    finished: str = "2026-01-01T00:10:00.000Z",
    exit_code: int | None = 0,
    shard: Shard | None = None,
    calls: dict[str, Any] | None = None,
    simulated: bool = False,
) -> Report:
    """A report as a shard run writes it."""
    settings: dict[str, Any] = {"rateLimit": 10.0, "auth": "token"}
    if shard is not None:
        settings["shard"] = shard.to_report()
    return Report(
        batch=batch,
        state=state,
        started_at=started,
        finished_at=finished,
        duration_seconds=600.0,
        settings=settings,
        summary=Summary.of(clusters),
        clusters=clusters,
        calls=calls or {},
        simulated=simulated,
        exit_code=exit_code,
    )


# ---- load_report --------------------------------------------------------------------------


def test_load_report_reads_back_what_write_report_wrote(tmp_path: Path) -> None:
    """A written report loads to an equal model."""
    original = report([result("alpha-one"), result("alpha-two", Outcome.FAILED)], exit_code=1)
    write_report(original, tmp_path / "r.json")
    assert load_report(tmp_path / "r.json") == original


def _valid_json() -> dict[str, Any]:
    return report([result("alpha-one")]).model_dump(mode="json", by_alias=True)


BROKEN: dict[str, tuple[bytes | None, str]] = {
    "missing": (None, r"r\.json: no such file$"),
    "empty": (b"  \n", r"r\.json: empty file, not a report$"),
    "truncated": (
        json.dumps(_valid_json()).encode()[:40],
        r"r\.json:1:\d+: not JSON \(.*\); is it a batchcreate report, and complete\?$",
    ),
    "not an object": (b"[1, 2]", r"r\.json: a report is a JSON object, got list$"),
    "not UTF-8": (b'{"batch": "\xff"}', r"r\.json: not UTF-8 text \(byte 11\)"),
    "bad outcome": (
        json.dumps(
            {**_valid_json(), "clusters": [{**_valid_json()["clusters"][0], "outcome": "boom"}]}
        ).encode(),
        r"r\.json: not a batchcreate report: clusters\.0\.outcome: Input should be",
    ),
    "missing keys": (
        json.dumps({"batch": "fleet"}).encode(),
        r"r\.json: not a batchcreate report: startedAt: Field required; .* \(and 3 more\)$",
    ),
    "other major version": (
        json.dumps({**_valid_json(), "schemaVersion": "2.0.0"}).encode(),
        r"schemaVersion 2\.0\.0 is not one this batchcreate reads \(1\.x\)",
    ),
}


@pytest.mark.parametrize(("content", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_load_report_explains_what_is_wrong_with_a_file(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    """Each unreadable or invalid file gives one ReportError naming the file and the fault."""
    path = tmp_path / "r.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReportError, match=message) as caught:
        load_report(path)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, BatchcreateError)
    assert caught.value.code == "report.invalid"


def test_load_report_refuses_a_directory(tmp_path: Path) -> None:
    """A directory given as a report is named as such."""
    with pytest.raises(ReportError, match="is a directory, not a report"):
        load_report(tmp_path)


# ---- merging ------------------------------------------------------------------------------


def test_disjoint_shards_combine_into_one_report_in_manifest_order() -> None:
    """Clusters of all shards, in manifest order (numbers as numbers), counted once each."""
    first = report(
        [
            result("c-ten", location="projects[10].clusters[0]", project="p10"),
            result("c-two", Outcome.FAILED, location="projects[2].clusters[0]", project="p2"),
        ],
        started="2026-01-01T00:00:05.000Z",
        finished="2026-01-01T00:20:00.000Z",
        exit_code=1,
        shard=Shard(0, 2),
        calls={"total": 7, "byKind": {"create": 2, "job": 5}, "retries": {}},
    )
    second = report(
        [result("c-nine", Outcome.EXISTING, location="projects[9].clusters[0]", project="p9")],
        started="2026-01-01T00:00:00.000Z",
        finished="2026-01-01T00:15:00.000Z",
        shard=Shard(1, 2),
        calls={"total": 3, "byKind": {"list": 1, "job": 2}, "retries": {"job": 1}},
    )
    merged = merge_reports([first, second])
    assert [c.name for c in merged.clusters] == ["c-two", "c-nine", "c-ten"]
    assert merged.summary == Summary(created=1, existing=1, failed=1, total=3)
    assert merged.calls == {
        "total": 10,
        "byKind": {"create": 2, "job": 7, "list": 1},
        "retries": {"job": 1},
    }
    assert (merged.started_at, merged.finished_at) == (
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T00:20:00.000Z",
    )
    assert merged.duration_seconds == 1200.0
    assert (merged.state, merged.exit_code) == (RunState.FINISHED, 1)
    assert merged.schema_version == SCHEMA_VERSION
    assert "shard" not in merged.settings
    assert merged.settings["rateLimit"] == 10.0
    shards = merged.settings["shards"]
    assert (shards["count"], shards["missing"], shards["duplicates"]) == (2, [], 0)
    assert [(r["shard"], r["clusters"], r["kept"]) for r in shards["reports"]] == [
        ({"index": 0, "count": 2}, 2, 2),
        ({"index": 1, "count": 2}, 1, 1),
    ]


T1, T2 = "2026-01-01T00:05:00.000Z", "2026-01-01T00:09:00.000Z"
DUPLICATES = {
    "created beats existing": ((Outcome.CREATED, T1), (Outcome.EXISTING, T2), Outcome.CREATED),
    "a later success beats a failure": (
        (Outcome.FAILED, T1),
        (Outcome.CREATED, T2),
        Outcome.CREATED,
    ),
    "a later failure does not undo a success": (
        (Outcome.EXISTING, T1),
        (Outcome.REJECTED, T2),
        Outcome.EXISTING,
    ),
    "the later of two failures": ((Outcome.FAILED, T1), (Outcome.TIMED_OUT, T2), Outcome.TIMED_OUT),
    "any end beats an interruption": (
        (Outcome.FAILED, T1),
        (Outcome.INTERRUPTED, T2),
        Outcome.FAILED,
    ),
    "interrupted beats never started": (
        (Outcome.INTERRUPTED, T1),
        (Outcome.NOT_STARTED, None),
        Outcome.INTERRUPTED,
    ),
}


@pytest.mark.parametrize(("one", "other", "kept"), DUPLICATES.values(), ids=DUPLICATES.keys())
def test_a_cluster_in_two_reports_appears_once_with_the_most_final_result(
    one: tuple[Outcome, str | None], other: tuple[Outcome, str | None], kept: Outcome
) -> None:
    """Overlapping or retried shards: one entry per cluster, the same whichever comes first."""
    a = report([result("alpha-one", one[0], at=one[1]), result("alpha-two")])
    b = report([result("alpha-one", other[0], at=other[1])], finished="2026-01-01T00:12:00.000Z")
    for pair in ([a, b], [b, a]):
        merged = merge_reports(pair)
        assert [(c.name, c.outcome) for c in merged.clusters] == [
            ("alpha-one", kept),
            ("alpha-two", Outcome.CREATED),
        ]
        assert merged.summary.total == 2
        assert merged.settings["shards"]["duplicates"] == 1


def test_same_outcome_twice_keeps_the_most_recent_result() -> None:
    """Two failures of one cluster: the later one's reason is the one kept."""
    early = result("alpha-one", Outcome.FAILED, at=T1).model_copy(update={"reason": "early"})
    late = result("alpha-one", Outcome.FAILED, at=T2).model_copy(update={"reason": "late"})
    assert merge_reports([report([late]), report([early])]).clusters[0].reason == "late"
    assert merge_reports([report([early]), report([late])]).clusters[0].reason == "late"


def test_reports_of_different_batches_are_refused_by_name() -> None:
    """Merging two manifests' reports is a mistake; the error names each file and batch."""
    with pytest.raises(ReportError, match=r"a\.json is 'east', b\.json is 'west'"):
        merge_reports(
            [report([], batch="east"), report([], batch="west")], names=["a.json", "b.json"]
        )


def test_simulated_and_real_reports_are_not_merged() -> None:
    """A rehearsal's report never mixes into a real fleet's."""
    with pytest.raises(
        ReportError, match=r"simulated runs \(report 2\) with real ones \(report 1\)"
    ):
        merge_reports([report([]), report([], simulated=True)])


def test_nothing_to_merge_and_mismatched_names_are_errors() -> None:
    """No reports at all, or a names list of another length, is refused."""
    with pytest.raises(ReportError, match="no reports to merge"):
        merge_reports([])
    with pytest.raises(ValueError, match="1 names for 2 reports"):
        merge_reports([report([]), report([])], names=["a.json"])


def test_an_interrupted_shard_makes_the_fleet_interrupted_with_its_signal_code() -> None:
    """A shard stopped by SIGTERM (143) whose results stand makes the merge interrupted, 143."""
    done = report([result("alpha-one")])
    stopped = report(
        [result("beta-one", Outcome.INTERRUPTED, project="proj-b")],
        state=RunState.INTERRUPTED,
        exit_code=143,
    )
    merged = merge_reports([done, stopped])
    assert (merged.state, merged.exit_code) == (RunState.INTERRUPTED, 143)


def test_a_checkpoint_left_by_a_killed_shard_keeps_the_fleet_running() -> None:
    """A ``running`` report (exitCode null) that still contributes leaves the merge unfinished."""
    killed = report(
        [result("beta-one", Outcome.INTERRUPTED, project="proj-b")],
        state=RunState.RUNNING,
        exit_code=None,
    )
    merged = merge_reports([report([result("alpha-one")]), killed])
    assert (merged.state, merged.exit_code) == (RunState.RUNNING, None)


def test_a_wholly_superseded_attempt_no_longer_speaks_for_the_fleet() -> None:
    """A retried shard's interrupted first attempt, every result replaced, does not count."""
    first_try = report(
        [result("alpha-one", Outcome.INTERRUPTED, at=T1)],
        state=RunState.INTERRUPTED,
        exit_code=130,
    )
    retry = report([result("alpha-one", Outcome.CREATED, at=T2)])
    merged = merge_reports([first_try, retry])
    assert (merged.state, merged.exit_code) == (RunState.FINISHED, 0)
    assert [r["kept"] for r in merged.settings["shards"]["reports"]] == [0, 1]
    assert merged.started_at == first_try.started_at


def test_exit_code_is_worked_out_like_one_run() -> None:
    """0 when every kept cluster succeeded, 3 when every shard ended in 3, else 1."""
    failed_then_fixed = merge_reports(
        [
            report([result("alpha-one", Outcome.FAILED, at=T1)], exit_code=1),
            report([result("alpha-one", at=T2)]),
        ]
    )
    assert failed_then_fixed.exit_code == 0
    rejected = [
        report([result("alpha-one", Outcome.NOT_STARTED)], exit_code=3),
        report([result("beta-one", Outcome.NOT_STARTED, project="proj-b")], exit_code=3),
    ]
    assert merge_reports(rejected).exit_code == 3
    mixed = [rejected[0], report([result("beta-one", project="proj-b")])]
    assert merge_reports(mixed).exit_code == 1


def test_missing_shards_are_named() -> None:
    """Shards 0 and 2 of 3 merged: shard 1 is listed as missing."""
    merged = merge_reports(
        [report([result("alpha-one")], shard=Shard(0, 3)), report([], shard=Shard(2, 3))]
    )
    assert merged.settings["shards"]["missing"] == [1]
    unlabelled = merge_reports([report([result("alpha-one")]), report([])])
    assert (unlabelled.settings["shards"]["count"], unlabelled.settings["shards"]["missing"]) == (
        None,
        None,
    )


def test_merged_report_validates_against_the_report_schema(tmp_path: Path) -> None:
    """The merge is itself a report: the schema accepts it and load_report reads it back."""
    merged = merge_reports(
        [
            report([result("alpha-one")], shard=Shard(0, 2), calls={"total": 1}),
            report([result("beta-one", Outcome.FAILED, project="proj-b")], shard=Shard(1, 2)),
        ]
    )
    document = merged.model_dump(mode="json", by_alias=True)
    assert list(jsonschema.Draft202012Validator(report_schema()).iter_errors(document)) == []
    write_report(merged, tmp_path / "fleet.json")
    assert load_report(tmp_path / "fleet.json") == merged


# ---- shards run for real, in virtual time -------------------------------------------------


async def _shard_run(plan: Any, shard: Shard, cce: FakeCce, clock: VirtualClock) -> Report:
    part = select(plan, shard)
    run = BatchRun(
        part,
        InMemoryTransport(cce),
        NoAuth(),
        clock,
        extra_settings={"shard": shard.to_report()},
    )
    return (await run.run()).report


async def test_shards_run_together_match_one_run_with_no_duplicate_creates() -> None:
    """Three shards at once, then one again, merge to one run's outcomes; no cluster made twice."""
    names = {f"team-{i}": [f"team-{i}-c{j:02d}" for j in range(i % 3 + 1)] for i in range(7)}
    behaviours = {"team-2-c01": Behaviour(job_phase="Failed", reason="no capacity")}
    plan = build_plan(manifest_dict(names))

    def fake(clock: VirtualClock) -> FakeCce:
        config = SimulatorConfig(job_duration=120.0, duration_jitter=0.0, behaviours=behaviours)
        return FakeCce(config, clock=clock)

    single_clock = VirtualClock()
    single = await single_clock.run(
        execute(plan, InMemoryTransport(fake(single_clock)), NoAuth(), single_clock)
    )

    clock = VirtualClock()
    cce = fake(clock)
    shards = [Shard(i, 3) for i in range(3)]
    reports = await clock.run(asyncio.gather(*(_shard_run(plan, s, cce, clock) for s in shards)))
    retried = await clock.run(_shard_run(plan, shards[1], cce, clock))
    merged = merge_reports([*reports, retried])

    def outcomes(r: Report) -> list[tuple[str, str, Outcome]]:
        return [(c.project, c.name, c.outcome) for c in r.clusters]

    assert outcomes(merged) == outcomes(single.report)
    assert merged.summary == single.report.summary
    assert merged.summary.failed == 1
    assert set(cce.created.values()) == {1}
    assert sum(cce.created.values()) == plan.cluster_count
    assert retried.clusters
    assert {c.outcome for c in retried.clusters} <= {Outcome.EXISTING, Outcome.FAILED}
    assert merged.settings["shards"]["missing"] == []
    assert merged.settings["shards"]["duplicates"] == len(retried.clusters)
    assert (merged.state, merged.exit_code) == (RunState.FINISHED, single.exit_code)
