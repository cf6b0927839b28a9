"""Pydantic models of the CCE v3 wire format: the create body, clusters, jobs and lists.

Field names are the wire's own (camelCase, and ``SecurityGroup`` with its capital S).
Every model keeps unknown fields (``extra="allow"``) so whatever today's service accepts
passes through untouched; ``to_wire`` gives back exactly what was given, with nothing added.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

CLUSTER_TYPES = ("VirtualMachine", "BareMetal", "Windows", "ARM64")
CONTAINER_NETWORK_MODES = ("overlay_l2", "underlay_ipvlan", "vpc-router", "eni")
BILLING_MODES = (0, 1)

NAME_PATTERN = re.compile(r"^[a-z][-a-z0-9]*[a-z0-9]$")
NAME_MIN, NAME_MAX = 4, 128
VERSION_PATTERN = re.compile(r"^v\d+\.\d+(\.\d+)?(-r\d+)?$")

ClusterType = Literal["VirtualMachine", "BareMetal", "Windows", "ARM64"]
ContainerNetworkMode = Literal["overlay_l2", "underlay_ipvlan", "vpc-router", "eni"]


class WireModel(BaseModel):
    """Base of every wire model: wire names, unknown fields kept, no coercion of strings."""

    model_config = ConfigDict(extra="allow")

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict of exactly the fields that were set, under their wire names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def check_cluster_name(name: str) -> str:
    """Validate a cluster name against today's rule; raise ``ValueError`` that teaches it."""
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise ValueError(f"cluster name {name!r} must be {NAME_MIN} to {NAME_MAX} characters long")
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"cluster name {name!r} must start with a lowercase letter, hold only lowercase "
            "letters, digits and '-', and end with a letter or digit"
        )
    return name


def check_cidr(cidr: str) -> str:
    """Validate an IPv4 network in CIDR notation, such as ``172.16.0.0/16``."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ValueError(
            f"{cidr!r} is not a network in CIDR notation such as 172.16.0.0/16"
        ) from None
    if "/" not in cidr:
        raise ValueError(f"{cidr!r} lacks a prefix length; write it like 172.16.0.0/16")
    if str(network) != cidr.strip():
        raise ValueError(f"{cidr!r} has host bits set; the network is {network}")
    return cidr


class ClusterMetadata(WireModel):
    name: StrictStr
    alias: StrictStr | None = None
    labels: dict[str, StrictStr] | None = None
    annotations: dict[str, StrictStr] | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_cluster_name(value)


class HostNetwork(WireModel):
    vpc: StrictStr = Field(min_length=1)
    subnet: StrictStr = Field(min_length=1)
    highway_subnet: StrictStr | None = Field(default=None, alias="highwaySubnet")
    security_group: StrictStr | None = Field(default=None, alias="SecurityGroup")


class ContainerCidr(WireModel):
    cidr: StrictStr

    @field_validator("cidr")
    @classmethod
    def _check_cidr(cls, value: str) -> str:
        return check_cidr(value)


class ContainerNetwork(WireModel):
    mode: ContainerNetworkMode
    cidr: StrictStr | None = None
    cidrs: list[ContainerCidr] | None = None

    @field_validator("cidr")
    @classmethod
    def _check_cidr(cls, value: str | None) -> str | None:
        return None if value is None else check_cidr(value)


class ClusterSpec(WireModel):
    type: ClusterType
    flavor: StrictStr = Field(min_length=1)
    version: StrictStr | None = None
    description: StrictStr | None = None
    host_network: HostNetwork = Field(alias="hostNetwork")
    container_network: ContainerNetwork = Field(alias="containerNetwork")
    billing_mode: StrictInt | None = Field(default=None, alias="billingMode")
    extend_param: dict[str, Any] | None = Field(default=None, alias="extendParam")

    @field_validator("billing_mode")
    @classmethod
    def _check_billing_mode(cls, value: int | None) -> int | None:
        if value is not None and value not in BILLING_MODES:
            raise ValueError(f"billingMode must be 0 (pay per use) or 1 (prepaid), got {value}")
        return value

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str | None) -> str | None:
        if value is not None and not VERSION_PATTERN.match(value):
            raise ValueError(f"version {value!r} must look like v1.28, v1.28.3 or v1.7.3-r13")
        return value


class ClusterBody(WireModel):
    """The body of ``POST /api/v3/projects/{project_id}/clusters``."""

    kind: Literal["Cluster"]
    api_version: Literal["v3"] = Field(alias="apiVersion")
    metadata: ClusterMetadata
    spec: ClusterSpec


# ---- Responses ---------------------------------------------------------------------------


class ObjectMeta(WireModel):
    uid: str | None = None
    name: str | None = None
    creation_timestamp: str | None = Field(default=None, alias="creationTimestamp")
    update_timestamp: str | None = Field(default=None, alias="updateTimestamp")


class ClusterStatus(WireModel):
    phase: str | None = None
    job_id: str | None = Field(default=None, alias="jobID")
    reason: str | None = None
    message: str | None = None


class Cluster(WireModel):
    """A cluster as the service returns it (create answer, show, list item)."""

    kind: str | None = None
    api_version: str | None = Field(default=None, alias="apiVersion")
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: dict[str, Any] = Field(default_factory=dict)
    status: ClusterStatus = Field(default_factory=ClusterStatus)


class ClusterList(WireModel):
    """The answer of ``GET /api/v3/projects/{project_id}/clusters``."""

    kind: str | None = None
    api_version: str | None = Field(default=None, alias="apiVersion")
    items: list[Cluster] = Field(default_factory=list)

    @field_validator("items", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        return [] if value is None else value  # an empty project may answer "items": null


class JobSpec(WireModel):
    type: str | None = None
    cluster_uid: str | None = Field(default=None, alias="clusterUID")
    resource_id: str | None = Field(default=None, alias="resourceID")
    resource_name: str | None = Field(default=None, alias="resourceName")
    extend_param: dict[str, Any] | None = Field(default=None, alias="extendParam")
    sub_jobs: list[Job] | None = Field(default=None, alias="subJobs")


class JobStatus(WireModel):
    phase: str | None = None
    reason: str | None = None


class Job(WireModel):
    """A job as ``GET /api/v3/projects/{project_id}/jobs/{job_id}`` returns it."""

    kind: str | None = None
    api_version: str | None = Field(default=None, alias="apiVersion")
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: JobSpec = Field(default_factory=JobSpec)
    status: JobStatus = Field(default_factory=JobStatus)

    def failure_reason(self) -> str | None:
        """The job's own reason, else the first failed sub-job's, for a ``Failed`` job."""
        if self.status.reason:
            return self.status.reason
        for sub in self.spec.sub_jobs or ():
            if sub.status.phase == "Failed":
                found = sub.failure_reason()
                if found:
                    return found
        return None


JobSpec.model_rebuild()
