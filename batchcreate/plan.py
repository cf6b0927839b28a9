"""A validated batch: what will be created where, with the settings to do it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchcreate.credentials import CredentialsEntry
from batchcreate.settings import Settings
from batchcreate.wire import encode_body


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    """One cluster to create: its merged create body and its place in the manifest."""

    name: str
    #: The create body as sent: compact UTF-8 JSON, encoded once when the plan is built.
    #: Bytes, not a dict: a tenth of the memory (100,000 bodies), immutable, so plans share
    #: nothing mutable, and no encoding per send.
    wire: bytes
    location: str

    @classmethod
    def of(cls, name: str, body: Mapping[str, Any], location: str) -> ClusterPlan:
        return cls(name, encode_body(body), location)

    @property
    def body(self) -> dict[str, Any]:
        """The create body as a new dict (changing it changes nothing planned)."""
        decoded: dict[str, Any] = json.loads(self.wire)
        return decoded


@dataclass(frozen=True, repr=False)
class ProjectPlan:
    """One project's clusters, and the endpoint its calls go to."""

    id: str
    region: str | None
    endpoint: str
    clusters: tuple[ClusterPlan, ...]
    location: str
    #: The endpoint whose rate limit the calls spend; differs from ``endpoint`` only when a
    #: simulator stands in for the cloud.
    limit_key: str = ""
    #: Where this project's secrets are read from (never the secrets); None: the defaults.
    credentials: CredentialsEntry | None = None

    @property
    def rate_key(self) -> str:
        return self.limit_key or self.endpoint

    def __repr__(self) -> str:
        # Short: a fleet's plan is large, and Python formats reprs in unexpected places
        # (asyncio's task reprs, enum errors), where a full one costs seconds of CPU.
        return (
            f"ProjectPlan(id={self.id!r}, endpoint={self.endpoint!r}, "
            f"clusters={len(self.clusters)})"
        )


@dataclass(frozen=True, repr=False)
class BatchPlan:
    """A whole validated manifest."""

    name: str
    settings: Settings
    projects: tuple[ProjectPlan, ...]
    #: The manifest's directory: relative profile paths are read from there.
    source_dir: Path | None = None

    @property
    def cluster_count(self) -> int:
        return sum(len(p.clusters) for p in self.projects)

    def __repr__(self) -> str:
        return (
            f"BatchPlan(name={self.name!r}, projects={len(self.projects)}, "
            f"clusters={self.cluster_count})"
        )
