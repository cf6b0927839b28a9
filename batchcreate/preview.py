"""What a run would do, without doing it: per project, what would be created and what
already exists (one list call per project, never a create)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from batchcreate.client import CceClient
from batchcreate.errors import ApiError, AuthenticationError
from batchcreate.plan import BatchPlan, ProjectPlan
from batchcreate.ratelimit import DeadlineExceeded


@dataclass(frozen=True)
class ProjectPreview:
    """One project's part of the plan."""

    project: str
    region: str | None
    endpoint: str
    to_create: list[str]
    #: (name, phase) of the manifest's clusters that already exist.
    existing: list[tuple[str, str | None]] = field(default_factory=list)
    #: False when the project was not listed (no credentials, or offline).
    listed: bool = False
    error: str | None = None
    #: True when the service rejected the credentials (401).
    rejected: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "region": self.region,
            "endpoint": self.endpoint,
            "listed": self.listed,
            "toCreate": self.to_create,
            "existing": [{"name": n, "phase": p} for n, p in self.existing],
            "error": self.error,
        }


def offline_preview(plan: BatchPlan) -> list[ProjectPreview]:
    """The plan without asking the service: everything would be created, as far as known."""
    return [
        ProjectPreview(p.id, p.region, p.rate_key, [c.name for c in p.clusters])
        for p in plan.projects
    ]


async def _one(client: CceClient, project: ProjectPlan) -> ProjectPreview:
    names = [c.name for c in project.clusters]
    try:
        items = await client.list_clusters(project)
    except (ApiError, DeadlineExceeded) as error:
        text = str(error) if isinstance(error, ApiError) else "no call slot in time"
        return ProjectPreview(
            project.id,
            project.region,
            project.rate_key,
            names,
            error=text,
            rejected=isinstance(error, AuthenticationError),
        )
    found = {c.metadata.name: c.status.phase for c in items if c.metadata.name}
    return ProjectPreview(
        project.id,
        project.region,
        project.rate_key,
        [n for n in names if n not in found],
        [(n, found[n]) for n in names if n in found],
        listed=True,
    )


async def live_preview(plan: BatchPlan, client: CceClient) -> list[ProjectPreview]:
    """The plan as the service sees it now: one list call per project, no create."""
    return list(await asyncio.gather(*(_one(client, p) for p in plan.projects)))


def preview_json(plan: BatchPlan, previews: list[ProjectPreview]) -> dict[str, Any]:
    return {
        "batch": plan.name,
        "projects": [p.to_json() for p in previews],
        "toCreate": sum(len(p.to_create) for p in previews),
        "existing": sum(len(p.existing) for p in previews),
        "total": plan.cluster_count,
    }


def render_preview(plan: BatchPlan, previews: list[ProjectPreview]) -> str:
    """A plain table: one line per project, then the totals."""
    rows = [("project", "region", "endpoint", "create", "exist", "note")]
    for p in previews:
        note = p.error or ("" if p.listed else "not listed: existing clusters unknown")
        rows.append(
            (
                p.project,
                p.region or "-",
                p.endpoint,
                str(len(p.to_create)),
                str(len(p.existing)) if p.listed else "?",
                note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i < 5 else cell for i, cell in enumerate(row)).rstrip()
        for row in rows
    ]
    for p in previews:
        if p.existing:
            shown = ", ".join(f"{n} ({ph or '?'})" for n, ph in p.existing[:10])
            more = f", … (+{len(p.existing) - 10})" if len(p.existing) > 10 else ""
            lines.append(f"  {p.project} already has: {shown}{more}")
    to_create = sum(len(p.to_create) for p in previews)
    lines.append(
        f"batch {plan.name}: {to_create} to create, "
        f"{sum(len(p.existing) for p in previews)} already exist, {plan.cluster_count} in all"
    )
    return "\n".join(lines)
