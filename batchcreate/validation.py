"""The rules a merged create body must meet before anything is sent.

Shape, types and enumerations come from the wire models (``batchcreate.models``); the rules
that span fields (bare metal needs a high-speed subnet, multi-AZ needs an HA flavor) and
clusters (no duplicate names or aliases in one project) live here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from batchcreate.errors import Problem
from batchcreate.models import ClusterBody
from batchcreate.problems import join_path, message_for, unknown_key_problems

#: The keys of a create body that batchcreate knows by name, level by level (today's API,
#: not only the 2018 seed): a key close to one of these but not equal is a misspelling.
KNOWN_BODY_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {
    (): ("kind", "apiVersion", "metadata", "spec", "status"),
    ("metadata",): (
        "name",
        "alias",
        "uid",
        "labels",
        "annotations",
        "timezone",
        "creationTimestamp",
        "updateTimestamp",
    ),
    ("spec",): (
        "category",
        "type",
        "flavor",
        "version",
        "platformVersion",
        "description",
        "customSan",
        "ipv6enable",
        "hostNetwork",
        "containerNetwork",
        "eniNetwork",
        "serviceNetwork",
        "authentication",
        "billingMode",
        "masters",
        "kubernetesSvcIpRange",
        "clusterTags",
        "kubeProxyMode",
        "az",
        "extendParam",
        "configurationsOverride",
        "deletionProtection",
        "publicAccess",
        "publicIP",
        "enableMasterVolumeEncryption",
        "encryptionConfig",
        "enableDistMgt",
        "supportIstio",
        "clusterOps",
    ),
    ("spec", "hostNetwork"): (
        "vpc",
        "subnet",
        "highwaySubnet",
        "SecurityGroup",
        "controlPlaneSecurityGroup",
    ),
    ("spec", "containerNetwork"): ("mode", "cidr", "cidrs"),
    ("spec", "eniNetwork"): ("eniSubnetId", "eniSubnetCIDR", "subnets"),
    ("spec", "serviceNetwork"): ("IPv4CIDR",),
    ("spec", "authentication"): ("mode", "authenticatingProxy"),
    ("spec", "extendParam"): (
        "clusterAZ",
        "dssMasterVolumes",
        "enterpriseProjectId",
        "kubeProxyMode",
        "clusterExternalIP",
        "alpha.cce/fixPoolMask",
        "decMasterFlavor",
        "dockerUmaskMode",
        "kubernetes.io/cpuManagerPolicy",
        "orderID",
        "periodType",
        "periodNum",
        "isAutoRenew",
        "isAutoPay",
        "upgradefrom",
    ),
}

HA_FLAVOR_PREFIX = "cce.s2."


def _cluster_name(body: Mapping[str, Any]) -> str | None:
    metadata = body.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else None


def _head(location: str, body: Mapping[str, Any]) -> str:
    name = _cluster_name(body)
    return f"{location} ({name})" if name else location


def cross_field_problems(body: ClusterBody) -> list[tuple[tuple[str, ...], str]]:
    """Rules that tie fields together, as (field path, message) pairs."""
    spec = body.spec
    out: list[tuple[tuple[str, ...], str]] = []
    if spec.type == "BareMetal" and not spec.host_network.highway_subnet:
        out.append((("spec", "hostNetwork", "highwaySubnet"), "required for BareMetal clusters"))
    az = (spec.extend_param or {}).get("clusterAZ")
    if az == "multi_az" and not spec.flavor.startswith(HA_FLAVOR_PREFIX):
        out.append(
            (
                ("spec", "extendParam", "clusterAZ"),
                f"multi_az needs an HA flavor (cce.s2.*), but spec.flavor is {spec.flavor}",
            )
        )
    if spec.billing_mode == 1:
        out.append(
            (
                ("spec", "billingMode"),
                "prepaid clusters (1) are created through an order that the billing API "
                "tracks, not a job; batchcreate follows jobs, so use 0 (pay per use)",
            )
        )
    return out


def _has_path(fragment: Any, path: Sequence[str | int]) -> bool:
    for part in path:
        if isinstance(fragment, Mapping):
            present = part in fragment
        elif isinstance(fragment, list):
            present = isinstance(part, int) and part < len(fragment)
        else:
            present = False
        if not present:
            return False
        fragment = fragment[part]
    return True


def _locate(
    head: str, path: Sequence[str | int], raw: Any, layers: Sequence[tuple[str, Any]]
) -> str:
    """Where a bad value was written: the cluster itself, else the defaults it came from."""
    if not path or _has_path(raw, path):
        return f"{head}: {join_path('', path)}" if path else head
    for where, fragment in reversed(layers):
        if _has_path(fragment, path):
            return join_path(where, path)
    return f"{head}: {join_path('', path)}"


def validate_clusters(
    clusters: Sequence[tuple[str, dict[str, Any], Any]],
    layers: Sequence[tuple[str, Any]] = (),
) -> tuple[list[Problem], list[tuple[str, str, dict[str, Any]]]]:
    """Check one project's clusters; return its problems and its valid clusters.

    Each cluster comes as (location, merged body, the cluster's own entry); ``layers`` are
    the defaults it was merged from, outermost first. A bad value is reported where it was
    written, so a typo in ``defaults`` is reported once at ``defaults``, not per cluster.
    """
    problems: list[Problem] = []
    for where, fragment in layers:
        problems.extend(unknown_key_problems(fragment, KNOWN_BODY_KEYS, where))

    valid: list[tuple[str, str, dict[str, Any]]] = []
    names: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for location, body, raw in clusters:
        head = _head(location, body)
        found = unknown_key_problems(raw, KNOWN_BODY_KEYS, "", head)
        model: ClusterBody | None = None
        try:
            model = ClusterBody.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                found.append(Problem(_locate(head, error["loc"], raw, layers), message_for(error)))
        if model is not None:
            for path, message in cross_field_problems(model):
                found.append(Problem(_locate(head, path, raw, layers), message))

        name = _cluster_name(body)
        if name is not None:
            if name in names:
                found.append(
                    Problem(f"{head}: metadata.name", f"duplicate name; {names[name]} has it too")
                )
            elif name in aliases:
                found.append(
                    Problem(f"{head}: metadata.name", f"equals the alias of {aliases[name]}")
                )
            names.setdefault(name, location)
        alias = (
            body.get("metadata", {}).get("alias")
            if isinstance(body.get("metadata"), Mapping)
            else None
        )
        if isinstance(alias, str) and alias != name:
            if alias in names or alias in aliases:
                other = names.get(alias) or aliases[alias]
                found.append(
                    Problem(f"{head}: metadata.alias", f"equals the name or alias of {other}")
                )
            aliases.setdefault(alias, location)
        problems.extend(found)
        if not found and model is not None:
            valid.append((location, model.metadata.name, model.to_wire()))
    return problems, valid
