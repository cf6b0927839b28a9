"""Generate large benchmark manifests: N clusters spread over P projects, one endpoint.

Run it from the project's root, or import ``fleet_manifest``/``write_manifest``::

    .venv/bin/python benchmarks/manifests.py --clusters 100000 --projects 1000 \
        --rate 1500 --endpoint http://127.0.0.1:8443 -o fleet.yaml

Each project holds a contiguous block of cluster names (``c-0000000`` on), written as one
template entry (``count`` and a ``{index}`` name pattern) per project, or with
``--explicit`` as one entry per cluster. Every project points at ``--endpoint`` (the
simulator), so all projects share one rate limit. The poll schedule suits the simulator's
short jobs: the first poll comes after ``--initial-delay``, which the benchmarks set just
above the longest job, so that one job poll finds each job finished. Credentials are not in
the file: batchcreate reads ``BATCHCREATE_TOKEN`` (the simulator checks none by default).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

#: The most clusters one template entry may make (batchcreate's ``count`` limit).
TEMPLATE_LIMIT = 10_000
NAME_PATTERN = "c-{index:07d}"
DEFAULT_ENDPOINT = "http://127.0.0.1:8443"
REGION = "cn-north-4"

BASE_DEFAULTS: dict[str, Any] = {
    "spec": {
        "type": "VirtualMachine",
        "flavor": "cce.s1.small",
        "hostNetwork": {"vpc": "vpc-bench", "subnet": "subnet-bench"},
        "containerNetwork": {"mode": "overlay_l2"},
    }
}


def project_id(index: int) -> str:
    """The id of the ``index``-th project (32 hex digits, as CCE project ids are)."""
    return f"{index:032x}"


def cluster_name(index: int) -> str:
    return NAME_PATTERN.format(index=index)


def split(clusters: int, projects: int) -> list[range]:
    """Contiguous blocks of cluster indices, one per project, sizes differing by one at most."""
    projects = max(1, min(projects, clusters)) if clusters else 1
    size, extra = divmod(clusters, projects)
    blocks, start = [], 0
    for p in range(projects):
        end = start + size + (1 if p < extra else 0)
        blocks.append(range(start, end))
        start = end
    return blocks


def _entries(block: range, explicit: bool) -> list[dict[str, Any]]:
    if explicit:
        return [{"metadata": {"name": cluster_name(i)}} for i in block]
    entries = []
    for start in range(block.start, block.stop, TEMPLATE_LIMIT):
        count = min(TEMPLATE_LIMIT, block.stop - start)
        entries.append({"count": count, "start": start, "metadata": {"name": NAME_PATTERN}})
    return entries


def fleet_manifest(
    clusters: int,
    projects: int,
    *,
    rate: float,
    endpoint: str = DEFAULT_ENDPOINT,
    max_in_flight: int = 1000,
    max_in_flight_per_project: int = 100,
    initial_delay: float = 1.0,
    interval: float = 0.5,
    timeout: float = 3600.0,
    explicit: bool = False,
    name: str = "bench-fleet",
) -> dict[str, Any]:
    """A manifest of ``clusters`` clusters over ``projects`` projects, all at ``endpoint``."""
    return {
        "name": name,
        "settings": {
            "rateLimit": rate,
            "maxInFlight": max_in_flight,
            "maxInFlightPerProject": max_in_flight_per_project,
            "timeout": f"{timeout:g}s",
            "poll": {
                "initialDelay": f"{initial_delay:g}s",
                "interval": f"{interval:g}s",
                "maxInterval": f"{2 * interval:g}s",
                "backoff": 1.5,
            },
        },
        "defaults": BASE_DEFAULTS,
        "projects": [
            {
                "id": project_id(p),
                "region": REGION,
                "endpoint": endpoint,
                "clusters": _entries(block, explicit),
            }
            for p, block in enumerate(split(clusters, projects))
            if block
        ],
    }


def write_manifest(manifest: dict[str, Any], path: Path) -> Path:
    """Write ``manifest`` to ``path``: JSON for a ``.json`` name, else YAML."""
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    else:
        text = yaml.safe_dump(manifest, sort_keys=False, default_flow_style=None, width=100)
        path.write_text(text, encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, required=True, metavar="N")
    parser.add_argument("--projects", type=int, default=0, metavar="P", help="default: N / 100")
    parser.add_argument("--rate", type=float, default=300.0, help="rateLimit (default 300)")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help=f"default {DEFAULT_ENDPOINT}")
    parser.add_argument("--max-in-flight", type=int, default=1000)
    parser.add_argument("--max-in-flight-per-project", type=int, default=100)
    parser.add_argument("--initial-delay", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds (default 0.5)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds (default 3600)")
    parser.add_argument("--explicit", action="store_true", help="one entry per cluster")
    parser.add_argument("-o", "--output", type=Path, required=True, help="a .yaml or .json path")
    args = parser.parse_args(argv)
    if args.clusters < 1:
        parser.error("--clusters must be at least 1")
    manifest = fleet_manifest(
        args.clusters,
        args.projects or max(1, args.clusters // 100),
        rate=args.rate,
        endpoint=args.endpoint,
        max_in_flight=args.max_in_flight,
        max_in_flight_per_project=args.max_in_flight_per_project,
        initial_delay=args.initial_delay,
        interval=args.interval,
        timeout=args.timeout,
        explicit=args.explicit,
    )
    write_manifest(manifest, args.output)
    print(f"{args.output}: {args.clusters} clusters in {len(manifest['projects'])} projects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
