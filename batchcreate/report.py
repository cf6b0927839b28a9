"""The report: one JSON document per run, the contract dashboards read.

Key names are fixed (add keys, never rename). ``schemaVersion`` follows semantic
versioning: within a major version, fields are only added.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field

from batchcreate.utc import utc_text

SCHEMA_VERSION = "1.1.0"


class Outcome(StrEnum):
    """How one cluster of the manifest ended."""

    CREATED = "created"
    EXISTING = "existing"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    REJECTED = "rejected"
    NOT_STARTED = "not_started"
    INTERRUPTED = "interrupted"


SUCCESS_OUTCOMES = frozenset({Outcome.CREATED, Outcome.EXISTING})


class _ReportModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class LastError(_ReportModel):
    http_status: int | None = Field(default=None, alias="httpStatus")
    error_code: str | None = Field(default=None, alias="errorCode")
    message: str
    request_id: str | None = Field(default=None, alias="requestId")
    #: The error tree's machine-readable code, e.g. ``api.throttled``.
    code: str | None = None


class ClusterResult(_ReportModel):
    project: str
    region: str | None
    endpoint: str
    name: str
    location: str
    outcome: Outcome
    cluster_id: str | None = Field(default=None, alias="clusterId")
    job_id: str | None = Field(default=None, alias="jobId")
    job_phase: str | None = Field(default=None, alias="jobPhase")
    cluster_phase: str | None = Field(default=None, alias="clusterPhase")
    reason: str | None = None
    last_error: LastError | None = Field(default=None, alias="lastError")
    attempts: int = 0
    polls: int = 0
    submitted_at: str | None = Field(default=None, alias="submittedAt")
    accepted_at: str | None = Field(default=None, alias="acceptedAt")
    terminal_at: str | None = Field(default=None, alias="terminalAt")
    submit_to_accept_seconds: float | None = Field(default=None, alias="submitToAcceptSeconds")
    accept_to_terminal_seconds: float | None = Field(default=None, alias="acceptToTerminalSeconds")
    submit_to_terminal_seconds: float | None = Field(default=None, alias="submitToTerminalSeconds")


class Summary(_ReportModel):
    created: int = 0
    existing: int = 0
    failed: int = 0
    timed_out: int = 0
    rejected: int = 0
    not_started: int = 0
    interrupted: int = 0
    total: int = 0

    @classmethod
    def of(cls, clusters: Iterable[ClusterResult]) -> Summary:
        return cls.of_outcomes(c.outcome for c in clusters)

    @classmethod
    def of_outcomes(cls, outcomes: Iterable[Outcome]) -> Summary:
        counts = {o.value: 0 for o in Outcome}
        for outcome in outcomes:
            counts[outcome.value] += 1
        return cls(**counts, total=sum(counts.values()))


class RunState(StrEnum):
    """Whether the report is final."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"


class Report(_ReportModel):
    schema_version: str = Field(default=SCHEMA_VERSION, alias="schemaVersion")
    batch: str
    #: ``running`` in the checkpoints written during a run; a ``kill -9`` leaves one of those.
    state: RunState = RunState.FINISHED
    started_at: str = Field(alias="startedAt")
    finished_at: str = Field(alias="finishedAt")
    duration_seconds: float = Field(alias="durationSeconds")
    settings: dict[str, Any]
    summary: Summary
    #: A list when read or merged; a run's own report keeps them as text (``StoredClusters``).
    clusters: Sequence[ClusterResult]
    calls: dict[str, Any] = Field(default_factory=dict)
    simulated: bool = False
    exit_code: int | None = Field(default=None, alias="exitCode")

    def _with_models(self) -> Report:
        """This report with its entries as models (entries kept as text are parsed)."""
        if isinstance(self.clusters, StoredClusters):
            return self.model_copy(update={"clusters": list(self.clusters)})
        return self

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        # ``report_pieces`` writes entries kept as text as they are; pydantic needs models.
        if isinstance(self.clusters, StoredClusters):
            return self._with_models().model_dump(**kwargs)
        return super().model_dump(**kwargs)

    def model_dump_json(self, **kwargs: Any) -> str:
        if isinstance(self.clusters, StoredClusters):
            return self._with_models().model_dump_json(**kwargs)
        return super().model_dump_json(**kwargs)


def entry_text(cluster: ClusterResult) -> str:
    """A cluster's entry as the report writes it: compact JSON, one line."""
    return cluster.model_dump_json()


class StoredClusters(Sequence[ClusterResult]):
    """A run's report entries kept as their text (``entry_text``), with each one's outcome:
    a large fleet's report is written without holding a model per cluster (a model costs
    about 2.7 KB, its text about 0.6 KB). Reading an entry parses it."""

    def __init__(self, texts: Sequence[str], outcomes: Sequence[Outcome]) -> None:
        if len(texts) != len(outcomes):
            raise ValueError("one outcome per entry")
        self.texts = texts
        self.outcomes = outcomes

    def __len__(self) -> int:
        return len(self.texts)

    @overload
    def __getitem__(self, index: int) -> ClusterResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[ClusterResult]: ...

    def __getitem__(self, index: int | slice) -> ClusterResult | list[ClusterResult]:
        if isinstance(index, slice):
            return [ClusterResult.model_validate_json(t) for t in self.texts[index]]
        return ClusterResult.model_validate_json(self.texts[index])

    def __iter__(self) -> Iterator[ClusterResult]:
        return (ClusterResult.model_validate_json(t) for t in self.texts)

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same clusters (a list read from a file, say)."""
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable-like: equal to lists

    def __repr__(self) -> str:
        return f"StoredClusters({len(self)} entries)"


def unsuccessful(clusters: Sequence[ClusterResult]) -> Iterator[ClusterResult]:
    """The clusters that were neither created nor existing, in order; entries kept as text
    are parsed only for those."""
    if isinstance(clusters, StoredClusters):
        for text, outcome in zip(clusters.texts, clusters.outcomes, strict=True):
            if outcome not in SUCCESS_OUTCOMES:
                yield ClusterResult.model_validate_json(text)
        return
    yield from (c for c in clusters if c.outcome not in SUCCESS_OUTCOMES)


def iso_utc(epoch: float | None) -> str | None:
    """Epoch seconds as an RFC 3339 UTC timestamp with milliseconds."""
    return None if epoch is None else utc_text(epoch, 3)


def write_atomically(path: Path, text: str | Iterable[str], end: str = "") -> None:
    """Write ``text`` (one string, or pieces in order), then ``end``, to ``path`` so that
    a reader sees the old file or the new, never half."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
            handle.write(end)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


#: Where the clusters go in the report's text: the top level is indented by two spaces, and
#: no string in JSON holds a raw line break, so this cannot match anywhere else.
_CLUSTERS_KEY = '\n  "clusters": []'


def report_pieces(report: Report) -> Iterator[str]:
    """The report's JSON text, in pieces: indented by two, but one line per cluster (so a
    cluster is one ``grep`` away, and a 100,000-cluster report is streamed to its file
    from the entries' text, never built as one string)."""
    clusters = report.clusters
    shell = report.model_copy(update={"clusters": []}).model_dump_json(indent=2)
    head, tail = shell.split(_CLUSTERS_KEY, 1)
    texts = clusters.texts if isinstance(clusters, StoredClusters) else map(entry_text, clusters)
    yield head
    yield '\n  "clusters": ['
    separator = "\n    "
    for text in texts:
        yield separator
        yield text
        separator = ",\n    "
    yield "\n  ]" if len(clusters) else "]"
    yield tail


def report_text(report: Report) -> str:
    """The report's JSON text (``report_pieces`` joined), without the final newline."""
    return "".join(report_pieces(report))


def write_report(report: Report, path: Path) -> None:
    write_atomically(path, report_pieces(report), end="\n")
