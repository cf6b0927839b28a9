"""A run's report as Prometheus text exposition (format 0.0.4), for the node-exporter
textfile collector.

Every sample carries the batch name as its ``batch`` label (and any extra constant labels,
such as a shard). The file describes the last run only: counters start from zero with each
run, which Prometheus reads as a counter reset. ``batchcreate_last_success_timestamp_seconds``
is the one value that outlives a run: a failed run carries the previous file's value over
(``read_last_success``), so ``time() - batchcreate_last_success_timestamp_seconds`` tells how
long a batch has gone without a clean run. A batch that never succeeded has no such sample.

``write_run_metrics`` does all of that for one finished run; ``render_metrics``,
``read_last_success`` and ``write_metrics`` are its parts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from batchcreate.report import Outcome, Report, RunState, write_atomically

#: Submit-to-terminal seconds: a CCE cluster takes minutes, the default timeout is 30 min.
DURATION_BUCKETS: tuple[float, ...] = (
    30.0,
    60.0,
    120.0,
    180.0,
    240.0,
    300.0,
    420.0,
    600.0,
    900.0,
    1200.0,
    1800.0,
    2700.0,
    3600.0,
)
#: The call statuses (``calls.byOutcome`` is ``kind:status``) that are throttling.
THROTTLED_STATUSES = frozenset({"api.throttled", "429"})
LAST_SUCCESS = "batchcreate_last_success_timestamp_seconds"

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
#: Labels the metrics use themselves; extra labels may not take these names.
_OWN_LABELS = frozenset(
    {"batch", "outcome", "kind", "status", "le", "state", "schema_version", "simulated"}
)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_LABELS_END = re.compile(r"\s*\}")
_LABEL_ESCAPE = re.compile(r"\\(.)")


def render_metrics(
    report: Report,
    *,
    now: float,
    last_success: float | None,
    throttle_events: int | None = None,
    labels: Mapping[str, str] | None = None,
    buckets: Sequence[float] = DURATION_BUCKETS,
) -> str:
    """The report as exposition text; ``now`` is the last-run timestamp.

    ``throttle_events`` overrides the count taken from ``calls.byOutcome``; ``labels`` are
    added to every sample (say ``{"shard": "2/4"}``, so that shards on one host differ).
    """
    out = _Exposition({"batch": report.batch, **_checked(labels or {})})

    out.family("batchcreate_run_info", "gauge", "The last run: its state and report schema.")
    out.sample(
        "batchcreate_run_info",
        1,
        state=report.state.value,
        schema_version=report.schema_version,
        simulated="true" if report.simulated else "false",
    )

    out.family("batchcreate_clusters", "gauge", "Clusters of the last run by outcome.")
    counts = dict.fromkeys(Outcome, 0)
    for cluster in report.clusters:
        counts[cluster.outcome] += 1
    for outcome, n in counts.items():
        out.sample("batchcreate_clusters", n, outcome=outcome.value)
    out.family(
        "batchcreate_clusters_planned",
        "gauge",
        "Clusters the last run was asked for (its manifest, or its shard of it).",
    )
    out.sample("batchcreate_clusters_planned", len(report.clusters))

    _durations(out, report, buckets)
    _calls(out, report.calls, throttle_events)

    out.family("batchcreate_run_duration_seconds", "gauge", "Wall time of the last run.")
    out.sample("batchcreate_run_duration_seconds", report.duration_seconds)
    out.family("batchcreate_exit_code", "gauge", "Exit code of the last run.")
    if report.exit_code is not None:
        out.sample("batchcreate_exit_code", report.exit_code)
    out.family(
        "batchcreate_last_run_timestamp_seconds", "gauge", "When the last run ended (epoch)."
    )
    out.sample("batchcreate_last_run_timestamp_seconds", now)
    out.family(
        LAST_SUCCESS, "gauge", "When the last run that created or found every cluster ended."
    )
    if last_success is not None:
        out.sample(LAST_SUCCESS, last_success)
    return out.text()


def run_succeeded(report: Report) -> bool:
    """Whether the run finished with every cluster created or existing (exit code 0)."""
    return report.state is RunState.FINISHED and report.exit_code == 0


def read_last_success(path: Path, *, batch: str | None = None) -> float | None:
    """``batchcreate_last_success_timestamp_seconds`` from an earlier metrics file.

    None when the file does not exist, has no such sample (for ``batch``, when given) or is
    not exposition text; other read errors raise ``OSError``.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        sample = _parse_sample(line)
        if sample is None or sample[0] != LAST_SUCCESS:
            continue
        _, labels, value = sample
        if batch is not None and labels.get("batch") != batch:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if math.isfinite(number):
            return number
    return None


def write_metrics(path: Path, text: str) -> None:
    """Replace ``path`` at once; the temporary file (``.NAME.XXXX.tmp``, in the same directory)
    does not end in ``.prom``, so the textfile collector never reads half a file."""
    write_atomically(Path(path), text)


def write_run_metrics(
    path: Path,
    report: Report,
    *,
    now: float,
    throttle_events: int | None = None,
    labels: Mapping[str, str] | None = None,
    buckets: Sequence[float] = DURATION_BUCKETS,
) -> str:
    """Render the metrics of a finished run and write them to ``path``; returns the text.

    The last-success timestamp is ``now`` when the run succeeded, else the one in the file
    being replaced. Raises ``OSError`` when the old file cannot be read or the new written.
    """
    path = Path(path)
    last_success = now if run_succeeded(report) else read_last_success(path, batch=report.batch)
    text = render_metrics(
        report,
        now=now,
        last_success=last_success,
        throttle_events=throttle_events,
        labels=labels,
        buckets=buckets,
    )
    write_metrics(path, text)
    return text


def _durations(out: _Exposition, report: Report, buckets: Sequence[float]) -> None:
    """Histogram and nearest-rank p50, p95 and max of submit-to-terminal, per outcome."""
    bounds = sorted({float(b) for b in buckets if math.isfinite(b)})
    measured: dict[Outcome, list[float]] = {}
    for cluster in report.clusters:
        if cluster.submit_to_terminal_seconds is not None:
            measured.setdefault(cluster.outcome, []).append(cluster.submit_to_terminal_seconds)
    by_outcome = [(o, sorted(measured[o])) for o in Outcome if o in measured]

    name = "batchcreate_cluster_duration_seconds"
    out.family(name, "histogram", "Seconds from a cluster's create to its outcome.")
    for outcome, values in by_outcome:
        for bound in bounds:
            n = sum(1 for v in values if v <= bound)
            out.sample(f"{name}_bucket", n, outcome=outcome.value, le=_number(bound))
        out.sample(f"{name}_bucket", len(values), outcome=outcome.value, le="+Inf")
        out.sample(f"{name}_sum", round(math.fsum(values), 3), outcome=outcome.value)
        out.sample(f"{name}_count", len(values), outcome=outcome.value)

    for stat, quantile, what in (
        ("p50", 0.5, "Median"),
        ("p95", 0.95, "95th percentile of the"),
        ("max", 1.0, "Longest"),
    ):
        gauge = f"batchcreate_cluster_duration_{stat}_seconds"
        out.family(gauge, "gauge", f"{what} seconds from create to outcome (nearest rank).")
        for outcome, values in by_outcome:
            out.sample(gauge, _nearest_rank(values, quantile), outcome=outcome.value)


def _nearest_rank(ordered: list[float], quantile: float) -> float:
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1]


def _calls(out: _Exposition, calls: Mapping[str, Any], throttle_events: int | None) -> None:
    """API calls by kind and status, retries by kind, and throttle events."""
    by_outcome: dict[tuple[str, str], int] = {}
    for key, n in _counts(calls.get("byOutcome")).items():
        kind, _, status = key.partition(":")
        by_outcome[(kind, status)] = by_outcome.get((kind, status), 0) + n
    retries = _counts(calls.get("retries"))
    kinds = sorted(
        set(_counts(calls.get("byKind"))) | set(retries) | {kind for kind, _ in by_outcome}
    )

    out.family("batchcreate_api_calls_total", "counter", "API calls of the last run by status.")
    for (kind, status), n in sorted(by_outcome.items()):
        out.sample("batchcreate_api_calls_total", n, kind=kind, status=status)
    out.family("batchcreate_api_retries_total", "counter", "API calls of the last run resent.")
    for kind in kinds:
        out.sample("batchcreate_api_retries_total", retries.get(kind, 0), kind=kind)
    if throttle_events is None:
        throttle_events = sum(
            n for (_, status), n in by_outcome.items() if status in THROTTLED_STATUSES
        )
    out.family(
        "batchcreate_throttle_events_total",
        "counter",
        "Calls of the last run refused as throttled.",
    )
    out.sample("batchcreate_throttle_events_total", throttle_events)


def _counts(value: object) -> dict[str, int]:
    """A ``{name: count}`` mapping of the report's ``calls``; anything else is empty."""
    if not isinstance(value, Mapping):
        return {}
    return {
        str(k): int(n)
        for k, n in value.items()
        if isinstance(n, int | float) and not isinstance(n, bool)
    }


def _checked(labels: Mapping[str, str]) -> dict[str, str]:
    for name in labels:
        if not _LABEL_NAME.match(name) or name.startswith("__") or name in _OWN_LABELS:
            raise ValueError(
                f"extra metric label {name!r} is not allowed: use letters, digits and _, "
                f"not starting with __ nor one of {', '.join(sorted(_OWN_LABELS))}"
            )
    return {name: str(value) for name, value in labels.items()}


class _Exposition:
    """Lines of exposition text; every sample gets the constant labels first."""

    def __init__(self, constant: Mapping[str, str]) -> None:
        self._constant = dict(constant)
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self._lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self._lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, **labels: str) -> None:
        pairs = _label_text({**self._constant, **labels}.items())
        self._lines.append(f"{name}{{{pairs}}} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _label_text(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{name}="{_escape_label(value)}"' for name, value in pairs)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _unescape_label(value: str) -> str:
    return _LABEL_ESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], value)


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(int(value))  # bool too, as 0 or 1
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _parse_sample(line: str) -> tuple[str, dict[str, str], str] | None:
    """A sample line as (name, labels, value text); None for comments and anything else."""
    match = _METRIC_NAME.match(line)
    if match is None:
        return None
    labels: dict[str, str] = {}
    pos = match.end()
    if line.startswith("{", pos):
        pos += 1
        while (end := _LABELS_END.match(line, pos)) is None:
            pair = _LABEL_PAIR.match(line, pos)
            if pair is None:
                return None
            labels[pair[1]] = _unescape_label(pair[2])
            pos = pair.end()
        pos = end.end()
    rest = line[pos:].split()
    return (match[0], labels, rest[0]) if rest else None
