"""Prometheus metrics of a report, parsed back with prometheus_client's own parser."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from batchcreate.app import execute
from batchcreate.auth import NoAuth
from batchcreate.clock import VirtualClock
from batchcreate.manifest import build_plan
from batchcreate.metrics import (
    DURATION_BUCKETS,
    read_last_success,
    render_metrics,
    run_succeeded,
    write_metrics,
    write_run_metrics,
)
from batchcreate.report import (
    ClusterResult,
    LastError,
    Outcome,
    Report,
    RunState,
    Summary,
)
from batchcreate.simulator.fake_cce import Behaviour, FakeCce, SimulatorConfig
from batchcreate.simulator.faults import Count, FaultConfig
from batchcreate.simulator.memory import InMemoryTransport
from tests.conftest import manifest_dict

NOW = 1_767_300_000.5
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def cluster(name: str, outcome: Outcome, seconds: float | None, **extra: Any) -> ClusterResult:
    return ClusterResult(
        project=extra.pop("project", "p1"),
        region="cn-north-4",
        endpoint="https://cce.cn-north-4.myhuaweicloud.com",
        name=name,
        location="p1/0",
        outcome=outcome,
        submit_to_terminal_seconds=seconds,
        **extra,
    )


def hand_built(batch: str = "nightly", *, exit_code: int | None = 1) -> Report:
    """Five measured clusters and two without a duration, and calls of three kinds."""
    clusters = [
        cluster("a", Outcome.CREATED, 100.0),
        cluster("b", Outcome.CREATED, 200.0),
        cluster("c", Outcome.CREATED, 400.0),
        cluster("d", Outcome.CREATED, 650.0),
        cluster("e", Outcome.TIMED_OUT, 1800.0, reason="still Running after 30m"),
        cluster("f", Outcome.EXISTING, None),
        cluster(
            "g",
            Outcome.REJECTED,
            None,
            last_error=LastError(http_status=400, message="bad flavor", code="api.rejected"),
        ),
    ]
    return Report(
        batch=batch,
        started_at="2026-01-01T00:00:00.000Z",
        finished_at="2026-01-01T00:31:00.000Z",
        duration_seconds=1860.25,
        settings={},
        summary=Summary.of(clusters),
        clusters=clusters,
        calls={
            "total": 21,
            "byKind": {"create": 6, "job": 12, "list": 3},
            "byOutcome": {
                "create:201": 4,
                "create:api.rejected": 1,
                "create:api.throttled": 1,
                "job:200": 9,
                "job:api.server": 1,
                "job:api.throttled": 2,
                "list:200": 3,
            },
            "retries": {"create": 1, "job": 3},
        },
        exit_code=exit_code,
    )


def samples(text: str) -> Samples:
    """Every sample of the text, keyed by name and labels (batch label dropped)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "batch")
            key = (sample.name, labels)
            assert key not in found, f"duplicate sample {key}"
            found[key] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def types(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_clusters_by_outcome_include_every_outcome_with_zero_counts() -> None:
    """One gauge sample per outcome, zero where no cluster ended so, and the planned total."""
    found = samples(render_metrics(hand_built(), now=NOW, last_success=None))
    by_outcome = {o.value: value(found, "batchcreate_clusters", outcome=o.value) for o in Outcome}
    assert by_outcome == {
        "created": 4,
        "existing": 1,
        "failed": 0,
        "timed_out": 1,
        "rejected": 1,
        "not_started": 0,
        "interrupted": 0,
    }
    assert value(found, "batchcreate_clusters_planned") == 7


def test_duration_histogram_counts_measured_clusters_per_outcome_in_cumulative_buckets() -> None:
    """Buckets are cumulative per outcome; clusters without submitToTerminalSeconds are left out."""
    text = render_metrics(hand_built(), now=NOW, last_success=None)
    found = samples(text)
    assert types(text)["batchcreate_cluster_duration_seconds"] == "histogram"
    name = "batchcreate_cluster_duration_seconds"
    created = {
        le: value(found, f"{name}_bucket", outcome="created", le=le)
        for le in ("60.0", "120.0", "180.0", "300.0", "420.0", "600.0", "900.0", "+Inf")
    }
    assert created == {
        "60.0": 0,
        "120.0": 1,
        "180.0": 1,
        "300.0": 2,
        "420.0": 3,
        "600.0": 3,
        "900.0": 4,
        "+Inf": 4,
    }
    assert value(found, f"{name}_count", outcome="created") == 4
    assert value(found, f"{name}_sum", outcome="created") == 1350.0
    assert value(found, f"{name}_bucket", outcome="timed_out", le="1200.0") == 0
    assert value(found, f"{name}_bucket", outcome="timed_out", le="1800.0") == 1
    measured = {dict(labels).get("outcome") for n, labels in found if n == f"{name}_count"}
    assert measured == {"created", "timed_out"}
    bounds = {dict(labels)["le"] for n, labels in found if n == f"{name}_bucket"}
    assert len(bounds) == len(DURATION_BUCKETS) + 1


def test_duration_quantiles_are_nearest_rank_per_outcome() -> None:
    """p50, p95 and max of submit-to-terminal are actual observations, by outcome."""
    found = samples(render_metrics(hand_built(), now=NOW, last_success=None))
    assert value(found, "batchcreate_cluster_duration_p50_seconds", outcome="created") == 200.0
    assert value(found, "batchcreate_cluster_duration_p95_seconds", outcome="created") == 650.0
    assert value(found, "batchcreate_cluster_duration_max_seconds", outcome="created") == 650.0
    assert value(found, "batchcreate_cluster_duration_max_seconds", outcome="timed_out") == 1800.0
    p50_outcomes = {
        dict(labels)["outcome"]
        for n, labels in found
        if n == "batchcreate_cluster_duration_p50_seconds"
    }
    assert p50_outcomes == {"created", "timed_out"}


def test_custom_buckets_replace_the_default_ones() -> None:
    """A caller's buckets (say, for a simulated run) are the only bounds, plus +Inf."""
    found = samples(render_metrics(hand_built(), now=NOW, last_success=None, buckets=[250, 50]))
    bounds = {
        dict(labels)["le"]: v
        for (n, labels), v in found.items()
        if n == "batchcreate_cluster_duration_seconds_bucket"
        and dict(labels)["outcome"] == "created"
    }
    assert bounds == {"50.0": 0, "250.0": 2, "+Inf": 4}


def test_api_calls_retries_and_throttle_events_come_from_the_call_counts() -> None:
    """Calls by kind and status, retries by kind (zero included), throttles from api.throttled."""
    text = render_metrics(hand_built(), now=NOW, last_success=None)
    found = samples(text)
    calls = {
        (dict(labels)["kind"], dict(labels)["status"]): v
        for (n, labels), v in found.items()
        if n == "batchcreate_api_calls_total"
    }
    assert calls == {
        ("create", "201"): 4,
        ("create", "api.rejected"): 1,
        ("create", "api.throttled"): 1,
        ("job", "200"): 9,
        ("job", "api.server"): 1,
        ("job", "api.throttled"): 2,
        ("list", "200"): 3,
    }
    assert types(text)["batchcreate_api_calls"] == "counter"
    retries = {
        dict(labels)["kind"]: v
        for (n, labels), v in found.items()
        if n == "batchcreate_api_retries_total"
    }
    assert retries == {"create": 1, "job": 3, "list": 0}
    assert value(found, "batchcreate_throttle_events_total") == 3


def test_an_explicit_throttle_count_overrides_the_call_counts() -> None:
    """``throttle_events`` (say, from the limiters) wins over the count in byOutcome."""
    found = samples(render_metrics(hand_built(), now=NOW, last_success=None, throttle_events=11))
    assert value(found, "batchcreate_throttle_events_total") == 11


def test_run_duration_exit_code_timestamps_and_info() -> None:
    """Run-level gauges carry the report's duration and exit code and the given timestamps."""
    found = samples(render_metrics(hand_built(), now=NOW, last_success=1_767_000_000.0))
    assert value(found, "batchcreate_run_duration_seconds") == 1860.25
    assert value(found, "batchcreate_exit_code") == 1
    assert value(found, "batchcreate_last_run_timestamp_seconds") == NOW
    assert value(found, "batchcreate_last_success_timestamp_seconds") == 1_767_000_000.0
    info = {
        "state": "finished",
        "schema_version": "1.1.0",
        "simulated": "false",
    }
    assert value(found, "batchcreate_run_info", **info) == 1


def test_missing_values_leave_their_families_without_samples() -> None:
    """No exit code (a checkpoint) and no success yet: those gauges have no sample, not zero."""
    text = render_metrics(hand_built(exit_code=None), now=NOW, last_success=None)
    found = samples(text)
    names = {name for name, _ in found}
    assert "batchcreate_exit_code" not in names
    assert "batchcreate_last_success_timestamp_seconds" not in names
    assert "# TYPE batchcreate_last_success_timestamp_seconds gauge" in text


def test_every_sample_carries_the_batch_label_and_every_family_help_and_type() -> None:
    """Each family has HELP and TYPE, each name the prefix, each sample the batch name."""
    text = render_metrics(hand_built(), now=NOW, last_success=NOW)
    families = list(text_string_to_metric_families(text))
    assert [f.name for f in families] == [
        "batchcreate_run_info",
        "batchcreate_clusters",
        "batchcreate_clusters_planned",
        "batchcreate_cluster_duration_seconds",
        "batchcreate_cluster_duration_p50_seconds",
        "batchcreate_cluster_duration_p95_seconds",
        "batchcreate_cluster_duration_max_seconds",
        "batchcreate_api_calls",
        "batchcreate_api_retries",
        "batchcreate_throttle_events",
        "batchcreate_run_duration_seconds",
        "batchcreate_exit_code",
        "batchcreate_last_run_timestamp_seconds",
        "batchcreate_last_success_timestamp_seconds",
    ]
    for family in families:
        assert family.name.startswith("batchcreate_")
        assert family.documentation
        assert family.type in {"gauge", "counter", "histogram"}
        for sample in family.samples:
            assert sample.labels["batch"] == "nightly"
    assert text.endswith("\n")


@pytest.mark.parametrize(
    "batch",
    ['quote"d', "back\\slash", "two\nlines", 'all \\"of\n them', "ünïcødé {x=1}, y"],
)
def test_odd_batch_names_survive_label_escaping(batch: str) -> None:
    """Quotes, backslashes, newlines and braces in the batch name parse back unchanged."""
    text = render_metrics(hand_built(batch), now=NOW, last_success=NOW)
    batches = {s.labels["batch"] for f in text_string_to_metric_families(text) for s in f.samples}
    assert batches == {batch}
    assert len(text.splitlines()) == len(
        render_metrics(hand_built(), now=NOW, last_success=NOW).splitlines()
    )


def test_extra_labels_go_on_every_sample_and_bad_names_are_refused() -> None:
    """A shard label is added everywhere; a label the metrics use themselves is an error."""
    text = render_metrics(hand_built(), now=NOW, last_success=None, labels={"shard": "2/4"})
    shards = {
        s.labels.get("shard") for f in text_string_to_metric_families(text) for s in f.samples
    }
    assert shards == {"2/4"}
    for bad in ("outcome", "__name", "9lives", "with-dash"):
        with pytest.raises(ValueError, match="not allowed"):
            render_metrics(hand_built(), now=NOW, last_success=None, labels={bad: "x"})


def test_read_last_success_finds_the_value_written_before(tmp_path: Path) -> None:
    """The timestamp written into a file is read back, for the same batch only."""
    path = tmp_path / "batchcreate.prom"
    write_metrics(path, render_metrics(hand_built('we"ird\n{b}'), now=NOW, last_success=123.25))
    assert read_last_success(path) == 123.25
    assert read_last_success(path, batch='we"ird\n{b}') == 123.25
    assert read_last_success(path, batch="another") is None


def test_read_last_success_is_none_without_a_usable_file(tmp_path: Path) -> None:
    """A missing file, one without the sample, and garbage all give None."""
    assert read_last_success(tmp_path / "absent.prom") is None
    none_yet = tmp_path / "none.prom"
    none_yet.write_text(render_metrics(hand_built(), now=NOW, last_success=None))
    assert read_last_success(none_yet) is None
    garbage = tmp_path / "garbage.prom"
    garbage.write_bytes(b"\xff\xfe batchcreate_last_success_timestamp_seconds{")
    assert read_last_success(garbage) is None
    broken = tmp_path / "broken.prom"
    broken.write_text(
        'batchcreate_last_success_timestamp_seconds{batch="x} 5\n'
        "batchcreate_last_success_timestamp_seconds{} NaN\n"
        "batchcreate_last_success_timestamp_seconds{} soon\n"
    )
    assert read_last_success(broken) is None
    plain = tmp_path / "plain.prom"
    plain.write_text("# a comment\nbatchcreate_last_success_timestamp_seconds 42\n")
    assert read_last_success(plain) == 42.0


def test_a_failed_run_keeps_the_last_success_and_a_good_one_moves_it(tmp_path: Path) -> None:
    """Success sets last success to now; a failure after it keeps that value and moves last run."""
    path = tmp_path / "batchcreate.prom"
    good = hand_built(exit_code=0)
    assert run_succeeded(good)
    write_run_metrics(path, good, now=1000.0)
    bad = hand_built(exit_code=1)
    assert not run_succeeded(bad)
    found = samples(write_run_metrics(path, bad, now=2000.0))
    assert value(found, "batchcreate_last_success_timestamp_seconds") == 1000.0
    assert value(found, "batchcreate_last_run_timestamp_seconds") == 2000.0
    assert samples(path.read_text()) == found
    write_run_metrics(path, good, now=3000.0)
    assert read_last_success(path) == 3000.0


def test_a_stopped_run_with_exit_code_zero_is_not_a_success(tmp_path: Path) -> None:
    """Only a finished run counts; an interrupted report never moves the last success."""
    stopped = hand_built(exit_code=0)
    stopped.state = RunState.INTERRUPTED
    assert not run_succeeded(stopped)
    path = tmp_path / "batchcreate.prom"
    found = samples(write_run_metrics(path, stopped, now=NOW))
    assert "batchcreate_last_success_timestamp_seconds" not in {name for name, _ in found}


def test_the_atomic_write_never_uses_a_prom_name_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file sits in the same directory, does not end in .prom, and is gone after."""
    path = tmp_path / "batchcreate.prom"
    path.write_text("old\n")
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        replaced.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_metrics(path, "new\n")
    ((tmp, dst),) = replaced
    assert Path(tmp).parent == tmp_path
    assert not tmp.endswith(".prom")
    assert dst == str(path)
    assert path.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["batchcreate.prom"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the rename fails the previous metrics stay and no temporary file is left behind."""
    path = tmp_path / "batchcreate.prom"
    path.write_text("old\n")

    def failing(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="No space"):
        write_metrics(path, "new\n")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["batchcreate.prom"]


async def test_metrics_of_a_real_run_in_virtual_time_match_its_report() -> None:
    """A small batch with throttling and a failed job: the metrics agree with the report."""
    clock = VirtualClock()
    cce = FakeCce(
        SimulatorConfig(
            job_duration=400.0,
            duration_jitter=0.0,
            seed=3,
            faults=FaultConfig(throttle=Count(2)),
            behaviours={"doomed-one": Behaviour(job_phase="Failed", reason="no capacity")},
        ),
        clock=clock,
    )
    cce.seed_cluster("p2", "old-one")
    plan = build_plan(
        manifest_dict({"p1": ["alpha-one", "doomed-one"], "p2": ["old-one", "beta-one"]})
    )
    result = await clock.run(execute(plan, InMemoryTransport(cce), NoAuth(), clock))
    report = result.report
    assert result.exit_code == 1

    found = samples(render_metrics(report, now=clock.time(), last_success=None))
    for outcome in Outcome:
        expected = getattr(report.summary, outcome.value)
        assert value(found, "batchcreate_clusters", outcome=outcome.value) == expected
    assert value(found, "batchcreate_clusters", outcome="created") == 2
    assert value(found, "batchcreate_clusters", outcome="failed") == 1
    assert value(found, "batchcreate_clusters", outcome="existing") == 1

    calls = {
        f"{dict(labels)['kind']}:{dict(labels)['status']}": v
        for (n, labels), v in found.items()
        if n == "batchcreate_api_calls_total"
    }
    assert calls == report.calls["byOutcome"]
    assert sum(calls.values()) == report.calls["total"]
    assert value(found, "batchcreate_throttle_events_total") == 2
    retries = sum(v for (n, _), v in found.items() if n == "batchcreate_api_retries_total")
    assert retries == sum(report.calls["retries"].values()) >= 2

    created = [
        seconds
        for c in report.clusters
        if c.outcome is Outcome.CREATED and (seconds := c.submit_to_terminal_seconds) is not None
    ]
    assert len(created) == 2
    name = "batchcreate_cluster_duration_seconds"
    assert value(found, f"{name}_count", outcome="created") == 2
    assert value(found, f"{name}_sum", outcome="created") == pytest.approx(sum(created))
    assert value(found, f"{name}_bucket", outcome="created", le="300.0") == 0
    assert value(found, f"{name}_bucket", outcome="created", le="600.0") == 2
    assert value(found, "batchcreate_cluster_duration_max_seconds", outcome="created") == max(
        created
    )
    assert value(found, "batchcreate_run_duration_seconds") == report.duration_seconds
    assert value(found, "batchcreate_exit_code") == 1
    assert value(found, "batchcreate_last_run_timestamp_seconds") == clock.time()


def test_the_runtime_does_not_import_prometheus_client() -> None:
    """prometheus_client is for tests only: the metrics and JUnit modules work without it."""
    check = (
        "import sys, batchcreate.metrics, batchcreate.junit; "
        "sys.exit(1 if 'prometheus_client' in sys.modules else 0)"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
