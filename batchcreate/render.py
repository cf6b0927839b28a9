"""Plain-text views for people: the validation summary, problems, the end-of-run summary."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from batchcreate.durations import format_duration
from batchcreate.errors import Problem
from batchcreate.plan import BatchPlan
from batchcreate.report import Outcome, Report, unsuccessful

MAX_NAMES_SHOWN = 12


def render_problems(problems: Iterable[Problem], source: str) -> str:
    """One line per problem, prefixed with the manifest's path."""
    lines = []
    for problem in problems:
        where = problem.location
        own = where.startswith((source, "--"))  # already a path, or a flag, not a manifest place
        prefix = f"{source}: " if where and not own else ""
        lines.append(f"error: {prefix}{problem}")
    return "\n".join(lines)


def render_plan(plan: BatchPlan) -> str:
    """What a run would create: per project, the count and the names."""
    s = plan.settings
    lines = [
        f"batch {plan.name}: {plan.cluster_count} clusters in {len(plan.projects)} projects",
        f"  settings: rateLimit {s.rate_limit:g}/s per endpoint, maxInFlight {s.max_in_flight}, "
        f"maxInFlightPerProject {s.max_in_flight_per_project}, "
        f"timeout {format_duration(s.timeout)}, poll {format_duration(s.poll.initial_delay)} "
        f"then {format_duration(s.poll.interval)} up to {format_duration(s.poll.max_interval)}",
    ]
    for project in plan.projects:
        names = [c.name for c in project.clusters]
        shown = ", ".join(names[:MAX_NAMES_SHOWN])
        if len(names) > MAX_NAMES_SHOWN:
            shown += f", … (+{len(names) - MAX_NAMES_SHOWN} more)"
        region = project.region or "-"
        lines.append(
            f"  project {project.id} ({region}, {project.endpoint}): {len(names)} clusters: {shown}"
        )
    return "\n".join(lines)


def render_summary(report: Report, path: Path) -> str:
    """The end of a run: counts by outcome, every cluster that did not succeed, the report."""
    counts = report.summary.model_dump()
    parts = [f"{o.value} {counts[o.value]}" for o in Outcome if counts[o.value]]
    lines = [
        f"batch {report.batch}: {report.summary.total} clusters in "
        f"{report.duration_seconds:.1f}s: {', '.join(parts) or 'nothing to do'}"
    ]
    for c in unsuccessful(report.clusters):
        error = c.last_error
        detail = c.reason or (error.message if error else "")
        code = f" [{error.error_code}]" if error and error.error_code else ""
        lines.append(f"  {c.outcome.value:<11} {c.project}/{c.name}{code}: {detail}")
    lines.append(f"report: {path}")
    return "\n".join(lines)
