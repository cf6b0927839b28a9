"""The report: one JSON document per run, the contract dashboards read.

Key names are fixed (add keys, never rename). ``schemaVersion`` follows semantic
versioning: within a major version, fields are only added.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
    def of(cls, clusters: list[ClusterResult]) -> Summary:
        counts = {o.value: 0 for o in Outcome}
        for c in clusters:
            counts[c.outcome.value] += 1
        return cls(**counts, total=len(clusters))


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
    clusters: list[ClusterResult]
    calls: dict[str, Any] = Field(default_factory=dict)
    simulated: bool = False
    exit_code: int | None = Field(default=None, alias="exitCode")


def iso_utc(epoch: float | None) -> str | None:
    """Epoch seconds as an RFC 3339 UTC timestamp with milliseconds."""
    if epoch is None:
        return None
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_atomically(path: Path, text: str, end: str = "") -> None:
    """Write ``text`` (then ``end``) to ``path`` so that a reader sees the old file or the
    new, never half."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
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


def write_report(report: Report, path: Path) -> None:
    # No ``+ "\n"``: a 100,000-cluster report is 75 MB of text, not to be copied again.
    write_atomically(path, report.model_dump_json(indent=2), end="\n")
