"""Combining shard reports into one fleet report: ``batchcreate report merge``.

A cluster is known by its endpoint, project and name. When several reports hold the same
cluster (overlapping shards, a retried shard), the merged report keeps one result for it:

1. the most final outcome: ``created``, then ``existing`` (both mean the cluster is there
   and ``Available``; ``created`` says which run made it), then ``failed``, ``timed_out``
   and ``rejected`` alike, then ``interrupted``, then ``not_started``;
2. among equals, the most recent: the cluster's ``terminalAt`` (else ``acceptedAt``, else
   ``submittedAt``, else its report's ``finishedAt``);
3. then a fixed order of the results' contents, so that the merge never depends on the order
   of its arguments.

A success seen once wins over a failure seen later: creation is idempotent and a rerun
converges, so a later failure (say, rejected credentials) does not undo a cluster.

The summary is counted again over the kept clusters, in manifest order (by ``location``).
``startedAt`` is the earliest start, ``finishedAt`` the latest finish, ``durationSeconds``
the span between them, and ``calls`` the sum of every report's calls, superseded or not.

A report none of whose results is kept (a retried shard's first attempt, wholly superseded)
no longer speaks for the fleet; the others, those that *contribute*, set ``state`` and
``exitCode``: ``interrupted`` if any is, else ``running`` if any is (a checkpoint left by a
killed runner), else ``finished``. The exit code is then worked out as one run's would be:
``null`` while running; an interrupted report's signal code (130, 143); else 0 if every
kept cluster is ``created`` or ``existing``, 3 if every contributing report ended in 3
(credentials rejected before anything was created), 1 otherwise.

``settings`` are the first report's, with ``shards``: what was merged (each report's
``shard``, state, exit code, times, clusters and how many of them were kept), how many
duplicate results were dropped, and which shards are missing when every report names its
shard of the same count. A merged report can be merged again; its own list of shards is then
one entry.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from batchcreate.errors import BatchcreateError
from batchcreate.report import (
    SCHEMA_VERSION,
    SUCCESS_OUTCOMES,
    ClusterResult,
    Outcome,
    Report,
    RunState,
    Summary,
)

#: How final each outcome is; a higher rank wins over a lower one.
FINALITY: dict[Outcome, int] = {
    Outcome.CREATED: 5,
    Outcome.EXISTING: 4,
    Outcome.FAILED: 3,
    Outcome.TIMED_OUT: 3,
    Outcome.REJECTED: 3,
    Outcome.INTERRUPTED: 2,
    Outcome.NOT_STARTED: 1,
}

EXIT_OK, EXIT_FAILED, EXIT_CREDENTIALS = 0, 1, 3
_MAJOR = SCHEMA_VERSION.split(".")[0]
_SHOWN_ERRORS = 3


class ReportError(BatchcreateError, ValueError):
    """A report cannot be read, or reports cannot be merged; the message says which and why."""

    code = "report.invalid"


def load_report(path: str | Path) -> Report:
    """Read and validate the report at ``path``; ``ReportError`` says what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a directory, not a report") from None
    except PermissionError:
        raise ReportError(f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 text (byte {exc.start}), not a report") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not text.strip():
        raise ReportError(f"{path}: empty file, not a report")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg}); "
            "is it a batchcreate report, and complete?"
        ) from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: a report is a JSON object, got {type(data).__name__}")
    version = data.get("schemaVersion")
    if isinstance(version, str) and version.split(".")[0] != _MAJOR:
        raise ReportError(
            f"{path}: schemaVersion {version} is not one this batchcreate reads "
            f"({_MAJOR}.x); use the batchcreate that wrote it"
        )
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        shown = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in errors[:_SHOWN_ERRORS]
        )
        more = f" (and {len(errors) - _SHOWN_ERRORS} more)" if len(errors) > _SHOWN_ERRORS else ""
        raise ReportError(f"{path}: not a batchcreate report: {shown}{more}") from None


def _moment(text: str | None) -> float:
    """An RFC 3339 timestamp as epoch seconds; missing or unreadable ones sort first."""
    if not text:
        return -math.inf
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return -math.inf
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def cluster_key(cluster: ClusterResult) -> tuple[str, str, str]:
    """What makes two results the same cluster: endpoint, project and name."""
    return (cluster.endpoint, cluster.project, cluster.name)


def _precedence(cluster: ClusterResult, report: Report) -> tuple[int, float, str]:
    seen = cluster.terminal_at or cluster.accepted_at or cluster.submitted_at
    return (
        FINALITY[cluster.outcome],
        _moment(seen or report.finished_at),
        cluster.model_dump_json(),
    )


def _manifest_order(cluster: ClusterResult) -> tuple[list[str | int], tuple[str, str, str]]:
    """``projects[2].clusters[10]`` after ``projects[2].clusters[9]``: numbers as numbers."""
    parts: list[str | int] = [
        int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", cluster.location))
    ]
    return parts, cluster_key(cluster)


def _add(left: Any, right: Any) -> Any:
    """Counts added up, mappings key by key; anything else is the left one's."""
    if isinstance(left, dict) and isinstance(right, dict):
        keys = [*left, *(k for k in right if k not in left)]
        return {
            k: _add(left[k], right[k])
            if k in left and k in right
            else copy.deepcopy(left[k] if k in left else right[k])
            for k in keys
        }
    numbers = (int, float)
    if (
        isinstance(left, numbers)
        and isinstance(right, numbers)
        and not isinstance(left, bool)
        and not isinstance(right, bool)
    ):
        return left + right
    return copy.deepcopy(left if left is not None else right)


def _check_compatible(reports: Sequence[Report], names: Sequence[str]) -> None:
    if not reports:
        raise ReportError("no reports to merge")
    for report, name in zip(reports, names, strict=True):
        if report.schema_version.split(".")[0] != _MAJOR:
            raise ReportError(
                f"{name}: schemaVersion {report.schema_version} is not one this batchcreate "
                f"merges ({_MAJOR}.x)"
            )
    batches = {r.batch for r in reports}
    if len(batches) > 1:
        listed = ", ".join(f"{n} is {r.batch!r}" for r, n in zip(reports, names, strict=True))
        raise ReportError(
            f"the reports are of different batches ({listed}); merge the shards of one manifest"
        )
    if len({r.simulated for r in reports}) > 1:
        simulated = ", ".join(n for r, n in zip(reports, names, strict=True) if r.simulated)
        real = ", ".join(n for r, n in zip(reports, names, strict=True) if not r.simulated)
        raise ReportError(
            f"cannot merge simulated runs ({simulated}) with real ones ({real}); "
            "merge each kind apart"
        )


def _state(considered: Sequence[Report]) -> RunState:
    states = {r.state for r in considered}
    if RunState.INTERRUPTED in states:
        return RunState.INTERRUPTED
    if RunState.RUNNING in states:
        return RunState.RUNNING
    return RunState.FINISHED


def _exit_code(
    state: RunState, considered: Sequence[Report], clusters: Sequence[ClusterResult]
) -> int | None:
    if state is RunState.RUNNING:
        return None
    if state is RunState.INTERRUPTED:
        codes = [
            r.exit_code
            for r in considered
            if r.state is RunState.INTERRUPTED and r.exit_code is not None
        ]
        return max(codes, default=EXIT_FAILED)
    if all(c.outcome in SUCCESS_OUTCOMES for c in clusters):
        return EXIT_OK
    if all(r.exit_code == EXIT_CREDENTIALS for r in considered):
        return EXIT_CREDENTIALS
    return EXIT_FAILED


def _shards(reports: Sequence[Report], kept: Sequence[int], dropped: int) -> dict[str, Any]:
    entries = [
        {
            "shard": copy.deepcopy(r.settings.get("shard")),
            "state": r.state.value,
            "exitCode": r.exit_code,
            "startedAt": r.started_at,
            "finishedAt": r.finished_at,
            "clusters": len(r.clusters),
            "kept": n,
        }
        for r, n in zip(reports, kept, strict=True)
    ]
    shards = [e["shard"] for e in entries]
    counts = {s.get("count") for s in shards if isinstance(s, dict)}
    count: int | None = None
    missing: list[int] | None = None
    if all(isinstance(s, dict) for s in shards) and len(counts) == 1:
        only = counts.pop()
        if isinstance(only, int):
            count = only
            present = {s.get("index") for s in shards if isinstance(s, dict)}
            missing = [i for i in range(count) if i not in present]
    return {"count": count, "missing": missing, "duplicates": dropped, "reports": entries}


def merge_reports(reports: Sequence[Report], names: Sequence[str] | None = None) -> Report:
    """One report of the whole fleet from shard reports; see the module docstring for rules.

    ``names`` (file names, say) label the reports in error messages.
    """
    labels = list(names) if names is not None else [f"report {i + 1}" for i in range(len(reports))]
    if len(labels) != len(reports):
        raise ValueError(f"{len(labels)} names for {len(reports)} reports")
    _check_compatible(reports, labels)

    best: dict[tuple[str, str, str], tuple[tuple[int, float, str], int, ClusterResult]] = {}
    seen = 0
    for index, report in enumerate(reports):
        for cluster in report.clusters:
            seen += 1
            key = cluster_key(cluster)
            rank = _precedence(cluster, report)
            current = best.get(key)
            if current is None or rank > current[0]:
                best[key] = (rank, index, cluster)
    kept = [0] * len(reports)
    for _, index, _ in best.values():
        kept[index] += 1
    clusters = sorted((c.model_copy(deep=True) for _, _, c in best.values()), key=_manifest_order)
    contributing = [r for r, n in zip(reports, kept, strict=True) if n]
    considered = contributing or list(reports)
    state = _state(considered)

    starts = [r.started_at for r in reports if _moment(r.started_at) > -math.inf]
    finishes = [r.finished_at for r in reports if _moment(r.finished_at) > -math.inf]
    started = min(starts, key=_moment, default=reports[0].started_at)
    finished = max(finishes, key=_moment, default=reports[-1].finished_at)
    span = _moment(finished) - _moment(started)
    longest = max(r.duration_seconds for r in reports)
    duration = round(max(span, longest), 3) if math.isfinite(span) else longest

    settings = {
        k: copy.deepcopy(v) for k, v in reports[0].settings.items() if k not in ("shard", "shards")
    }
    settings["shards"] = _shards(reports, kept, seen - len(best))
    calls: dict[str, Any] = {}
    for report in reports:
        calls = _add(calls, report.calls)
    return Report(
        schema_version=SCHEMA_VERSION,
        batch=reports[0].batch,
        state=state,
        started_at=started,
        finished_at=finished,
        duration_seconds=duration,
        settings=settings,
        summary=Summary.of(clusters),
        clusters=clusters,
        calls=calls,
        simulated=reports[0].simulated,
        exit_code=_exit_code(state, considered, clusters),
    )
