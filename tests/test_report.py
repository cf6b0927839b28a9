"""The report's text: one line per cluster, streamed from entries kept as text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchcreate.app import BatchRun
from batchcreate.auth import NoAuth
from batchcreate.clock import VirtualClock
from batchcreate.manifest import build_plan
from batchcreate.report import (
    ClusterResult,
    LastError,
    Outcome,
    Report,
    StoredClusters,
    Summary,
    entry_text,
    report_pieces,
    report_text,
    unsuccessful,
    write_report,
)
from batchcreate.simulator.fake_cce import FakeCce, SimulatorConfig
from batchcreate.simulator.memory import InMemoryTransport
from tests.conftest import manifest_dict


def _cluster(name: str, outcome: Outcome = Outcome.CREATED) -> ClusterResult:
    return ClusterResult(
        project="p1",
        region="cn-north-4",
        endpoint="https://cce.cn-north-4.myhuaweicloud.com",
        name=name,
        location=f"projects[0].clusters[{name}]",
        outcome=outcome,
        reason=None if outcome is Outcome.CREATED else 'quota "exceeded"\nline two',
        last_error=LastError(http_status=403, error_code="CCE.01400013", message="no quota"),
    )


def _report(clusters: list[ClusterResult]) -> Report:
    return Report(
        batch="fleet",
        started_at="2026-01-01T00:00:00.000Z",
        finished_at="2026-01-01T00:10:00.000Z",
        duration_seconds=600.0,
        settings={"rateLimit": 10.0, "note": '"clusters": [] inside a value'},
        summary=Summary.of(clusters),
        clusters=clusters,
    )


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_text_is_the_report_as_json(count: int) -> None:
    """Whatever the number of clusters, the text parses to the model's own JSON."""
    clusters = [
        _cluster(f"c{i}", Outcome.FAILED if i % 2 else Outcome.CREATED) for i in range(count)
    ]
    report = _report(clusters)
    assert json.loads(report_text(report)) == json.loads(report.model_dump_json())


def test_each_cluster_is_one_line_and_the_rest_is_indented() -> None:
    """A cluster's entry is one line (reasons with line breaks included); the top level is
    indented by two spaces, as before."""
    report = _report([_cluster("alpha"), _cluster("beta", Outcome.FAILED)])
    lines = report_text(report).splitlines()
    entries = [line for line in lines if line.startswith("    {")]
    assert [json.loads(line.rstrip(","))["name"] for line in entries] == ["alpha", "beta"]
    assert '  "batch": "fleet",' in lines
    assert lines[0] == "{"
    assert lines[-1] == "}"


def test_stored_entries_read_back_as_the_clusters_they_came_from() -> None:
    """Entries kept as text give back equal models by index, slice and iteration."""
    clusters = [_cluster("a"), _cluster("b", Outcome.FAILED), _cluster("c", Outcome.TIMED_OUT)]
    stored = StoredClusters([entry_text(c) for c in clusters], [c.outcome for c in clusters])
    assert len(stored) == 3
    assert stored[1] == clusters[1]
    assert stored[1:] == clusters[1:]
    assert list(stored) == clusters
    assert stored == clusters
    assert stored != clusters[:2]
    assert stored != [clusters[0], clusters[2], clusters[1]]
    with pytest.raises(ValueError, match="one outcome per entry"):
        StoredClusters(["{}"], [])


def test_only_the_unsuccessful_entries_are_parsed() -> None:
    """Listing failures reads the kept outcomes, not every entry: successful entries here are
    not even JSON, and are never parsed."""
    failed = _cluster("b", Outcome.FAILED)
    stored = StoredClusters(
        ["not json", entry_text(failed), "not json either"],
        [Outcome.CREATED, Outcome.FAILED, Outcome.EXISTING],
    )
    assert list(unsuccessful(stored)) == [failed]
    plain = [_cluster("a"), failed]
    assert list(unsuccessful(plain)) == [failed]


def test_a_report_of_stored_entries_is_written_as_they_are(tmp_path: Path) -> None:
    """The writer streams the kept text: the file holds it verbatim, one line each."""
    clusters = [_cluster("a"), _cluster("b", Outcome.FAILED)]
    report = _report([])
    report.clusters = StoredClusters([entry_text(c) for c in clusters], [Outcome.CREATED] * 2)
    write_report(report, tmp_path / "r.json")
    text = (tmp_path / "r.json").read_text()
    assert text.endswith("}\n")
    lines = text.splitlines()
    assert f"    {entry_text(clusters[0])}," in lines
    assert f"    {entry_text(clusters[1])}" in lines
    assert json.loads(text)["clusters"] == [c.model_dump(mode="json") for c in clusters]
    assert "".join(report_pieces(report)) + "\n" == text


async def test_a_run_keeps_its_finished_entries_as_text_not_models(tmp_path: Path) -> None:
    """A run's report holds its entries as text; the file written at the end parses to the
    same clusters, and the entries' text is what the checkpoints wrote."""
    clock = VirtualClock()
    cce = FakeCce(SimulatorConfig(job_duration=60.0, duration_jitter=0.0, seed=1), clock=clock)
    plan = build_plan(manifest_dict({"p1": ["cl-1", "cl-2", "cl-3"]}, settings={"rateLimit": 50}))
    run = BatchRun(plan, InMemoryTransport(cce), NoAuth(), clock, report_path=tmp_path / "r.json")
    result = await clock.run(run.run())
    clusters = result.report.clusters
    assert isinstance(clusters, StoredClusters)
    assert [c.outcome for c in clusters] == [Outcome.CREATED] * 3
    assert list(clusters.outcomes) == [Outcome.CREATED] * 3
    checkpoint = json.loads((tmp_path / "r.json").read_text())
    assert checkpoint["clusters"] == [json.loads(t) for t in clusters.texts]
    # The model's own serialisation still works on such a report.
    assert json.loads(result.report.model_dump_json()) == json.loads(report_text(result.report))
