"""What the runner knows about one cluster while the batch runs, and its report entry."""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter

from batchcreate.errors import ApiError
from batchcreate.plan import ClusterPlan, ProjectPlan
from batchcreate.report import ClusterResult, LastError, Outcome, iso_utc


@dataclass(slots=True)
class Mark:
    """One moment, on both clocks: monotonic for durations, wall for timestamps."""

    mono: float
    wall: float


def _span(start: Mark | None, end: Mark | None) -> float | None:
    return None if start is None or end is None else round(end.mono - start.mono, 3)


@dataclass(slots=True)
class ClusterRecord:
    """The live state of one cluster of the manifest."""

    project: ProjectPlan
    plan: ClusterPlan
    outcome: Outcome = Outcome.NOT_STARTED
    #: True once the outcome is final; ``outcome`` stays ``not_started`` until then.
    done: bool = False
    preexisting: bool = False
    cluster_id: str | None = None
    job_id: str | None = None
    job_phase: str | None = None
    cluster_phase: str | None = None
    reason: str | None = None
    last_error: ApiError | None = None
    attempts: int = 0
    polls: int = 0
    submitted: Mark | None = None
    accepted: Mark | None = None
    terminal: Mark | None = None

    @property
    def name(self) -> str:
        return self.plan.name

    def finish(self, outcome: Outcome, at: Mark, reason: str | None = None) -> None:
        self.outcome = outcome
        self.done = True
        self.terminal = at
        if reason is not None:
            self.reason = reason

    def provisional(self) -> tuple[Outcome, str | None]:
        """The outcome to show for this cluster if the run ended now."""
        if self.done:
            return self.outcome, self.reason
        if self.submitted is not None or self.preexisting:
            return Outcome.INTERRUPTED, "in progress when this report was written"
        return Outcome.NOT_STARTED, self.reason or "not sent yet when this report was written"

    def state(self) -> tuple[object, ...]:
        """Every field that can change: two equal states give equal report entries."""
        return _changing_fields(self)

    def to_result(self) -> ClusterResult:
        """The cluster's report entry as things stand."""
        error = self.last_error
        outcome, reason = self.provisional()
        return ClusterResult(
            project=self.project.id,
            region=self.project.region,
            endpoint=self.project.rate_key,
            name=self.name,
            location=self.plan.location,
            outcome=outcome,
            cluster_id=self.cluster_id,
            job_id=self.job_id,
            job_phase=self.job_phase,
            cluster_phase=self.cluster_phase,
            reason=reason,
            last_error=None
            if error is None
            else LastError(
                http_status=error.http_status,
                error_code=error.error_code,
                message=error.message,
                request_id=error.request_id,
                code=error.code,
            ),
            attempts=self.attempts,
            polls=self.polls,
            submitted_at=iso_utc(self.submitted.wall) if self.submitted else None,
            accepted_at=iso_utc(self.accepted.wall) if self.accepted else None,
            terminal_at=iso_utc(self.terminal.wall) if self.terminal else None,
            submit_to_accept_seconds=_span(self.submitted, self.accepted),
            accept_to_terminal_seconds=_span(self.accepted, self.terminal),
            submit_to_terminal_seconds=_span(self.submitted, self.terminal),
        )


#: Every field of a record but its project and plan, which never change.
_changing_fields = attrgetter(
    *(f.name for f in fields(ClusterRecord) if f.name not in ("project", "plan"))
)
