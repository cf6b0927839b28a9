"""Splitting one manifest across runners: ``--shard I/N`` takes a disjoint part of it.

Shards count from 0, as a Kubernetes Indexed Job's ``JOB_COMPLETION_INDEX`` does: the
shards of ``N`` are ``0/N`` to ``N-1/N``. The unit is the project, so each project's
limits (``maxInFlightPerProject``, one list per project) still hold within one runner.

How projects are assigned, given the same manifest, by every runner alike:

1. Each project is known by ``sha256(endpoint + "/" + project id)``: the endpoint the
   manifest names (``rate_key``, the same under ``--simulate``), never Python's ``hash()``,
   so every process and every Python version agrees.
2. Projects are placed largest first (most clusters; equal sizes in order of that digest),
   each on the shard with the fewest clusters so far, then the fewest projects, then the
   lowest index.

So the shards of one manifest are disjoint and together complete; the cluster counts of
any two differ by at most the largest project, and no shard is empty while another holds
two projects. The assignment depends on the set of projects and their sizes, not on their
order in the manifest. Editing the manifest (adding a project, resizing one) may move
other projects to other shards: all runners of one fleet run must read the same manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable

from batchcreate.plan import BatchPlan, ProjectPlan

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclasses.dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``, counting from 0."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"the number of shards must be at least 1, got {self.count}")
        if not 0 <= self.index < self.count:
            hint = (
                f"; shards count from 0, so the last of {self.count} is {self.count - 1}/"
                f"{self.count}"
                if self.index == self.count
                else ""
            )
            raise ValueError(
                f"shard {self.index}/{self.count} does not exist: use 0 to {self.count - 1}{hint}"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def to_report(self) -> dict[str, int]:
        """The shard as the report's ``settings.shard`` shows it."""
        return {"index": self.index, "count": self.count}


def parse_shard(text: str) -> Shard:
    """``"I/N"`` as a ``Shard``: shard ``I`` of ``N``, with ``I`` from 0 to ``N-1``."""
    match = _SHARD.match(text)
    if match is None:
        raise ValueError(
            f"a shard is written I/N, such as 0/4 (shard 0 of 4, counting from 0), got {text!r}"
        )
    return Shard(int(match[1]), int(match[2]))


def project_key(project: ProjectPlan) -> str:
    """The stable digest a project is placed by: sha256 of its endpoint and id."""
    return hashlib.sha256(f"{project.rate_key}/{project.id}".encode()).hexdigest()


def assign(projects: Iterable[ProjectPlan], count: int) -> dict[str, int]:
    """Each project's shard among ``count``, by ``project_key``; see the module docstring."""
    if count < 1:
        raise ValueError(f"the number of shards must be at least 1, got {count}")
    order = sorted(projects, key=lambda p: (-len(p.clusters), project_key(p)))
    clusters = [0] * count
    members = [0] * count
    out: dict[str, int] = {}
    for project in order:
        index = min(range(count), key=lambda i: (clusters[i], members[i], i))
        out[project_key(project)] = index
        clusters[index] += len(project.clusters)
        members[index] += 1
    return out


def select(plan: BatchPlan, shard: Shard) -> BatchPlan:
    """The part of ``plan`` that ``shard`` runs: its projects, in manifest order."""
    owner = assign(plan.projects, shard.count)
    mine = tuple(p for p in plan.projects if owner[project_key(p)] == shard.index)
    return dataclasses.replace(plan, projects=mine)
