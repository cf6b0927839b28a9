"""A run's report as JUnit XML, for CI systems: one test suite per project, one test case per
cluster.

Outcomes map to JUnit results so that a CI page agrees with the exit code:

- ``created``, ``existing``: passed.
- ``failed``, ``timed_out``, ``rejected``: ``<failure type=OUTCOME>``; the cluster was tried
  and could not be created.
- ``not_started``, ``interrupted``: ``<error type=OUTCOME>``; the run ended before the
  cluster's fate was known. Not ``<skipped>``: nothing chose to skip the cluster, and CI
  systems count skipped tests as harmless.

So ``skipped`` is always 0. A case's ``time`` is its submit-to-terminal seconds (0 when it
was never submitted, e.g. an existing cluster); a suite's and the root's ``time`` are the sums
of their cases' times. Clusters are created concurrently, so these sums are cluster-seconds,
not the run's wall time.

A suite is named by its project id and carries the endpoint as ``hostname`` and as a
property; a project listed at two endpoints gets two suites, named ``ID @ HOST``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from batchcreate.report import ClusterResult, LastError, Outcome, Report, write_atomically

FAILURES = frozenset({Outcome.FAILED, Outcome.TIMED_OUT, Outcome.REJECTED})
ERRORS = frozenset({Outcome.NOT_STARTED, Outcome.INTERRUPTED})

#: Characters XML 1.0 cannot carry, escaped or not: control characters and lone surrogates.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render_junit(report: Report) -> str:
    """The report as a JUnit XML document (``<testsuites>``), with its XML declaration."""
    suites = _by_project(report.clusters)
    ambiguous = _ids_at_several_endpoints(suites)
    root = ET.Element("testsuites", name=_safe(report.batch))
    totals = _Counts()
    for (project, endpoint), clusters in suites.items():
        name = f"{project} @ {_host(endpoint)}" if project in ambiguous else project
        counts = _Counts.of(clusters)
        totals.add(counts)
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": _safe(name),
                **counts.attributes(),
                "timestamp": _timestamp(report.started_at),
                "hostname": _safe(_host(endpoint)),
            },
        )
        properties = ET.SubElement(suite, "properties")
        for key, value in (
            ("batch", report.batch),
            ("project", project),
            ("region", clusters[0].region),
            ("endpoint", endpoint),
        ):
            if value is not None:
                ET.SubElement(properties, "property", name=key, value=_safe(value))
        for cluster in clusters:
            _testcase(suite, name, cluster)
    root.attrib.update(totals.attributes())
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def write_junit(path: Path, text: str) -> None:
    """Replace ``path`` at once, so that a reader never sees half a document."""
    write_atomically(Path(path), text)


def _testcase(suite: ET.Element, classname: str, cluster: ClusterResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=_safe(classname),
        name=_safe(cluster.name),
        time=_seconds(_time(cluster)),
    )
    if cluster.outcome in FAILURES or cluster.outcome in ERRORS:
        tag = "failure" if cluster.outcome in FAILURES else "error"
        result = ET.SubElement(
            case, tag, message=_safe(_message(cluster)), type=cluster.outcome.value
        )
        result.text = _safe(_details(cluster))


def _message(cluster: ClusterResult) -> str:
    if cluster.reason:
        return cluster.reason
    if cluster.last_error is not None:
        return cluster.last_error.message
    return f"cluster {cluster.outcome.value}"


def _details(cluster: ClusterResult) -> str:
    """Everything the report knows about why the cluster ended this way, one fact a line."""
    lines = [f"outcome: {cluster.outcome.value}"]
    if cluster.reason:
        lines.append(f"reason: {cluster.reason}")
    if cluster.last_error is not None:
        lines.append(f"last error: {_describe(cluster.last_error)}")
    for label, ident, phase in (
        ("job", cluster.job_id, cluster.job_phase),
        ("cluster", cluster.cluster_id, cluster.cluster_phase),
    ):
        if ident or phase:
            lines.append(f"{label}: {ident or '-'} (phase {phase or 'unknown'})")
    lines.append(f"attempts: {cluster.attempts}, polls: {cluster.polls}")
    for label, moment in (
        ("submitted", cluster.submitted_at),
        ("accepted", cluster.accepted_at),
        ("terminal", cluster.terminal_at),
    ):
        if moment:
            lines.append(f"{label}: {moment}")
    lines.append(f"endpoint: {cluster.endpoint}")
    return "\n".join(lines)


def _describe(error: LastError) -> str:
    head = [part for part in (error.code, _status(error.http_status), error.error_code) if part]
    text = f"{' '.join(head)}: {error.message}" if head else error.message
    return f"{text} (request {error.request_id})" if error.request_id else text


def _status(http_status: int | None) -> str | None:
    return None if http_status is None else f"HTTP {http_status}"


class _Counts:
    def __init__(self) -> None:
        self.tests = self.failures = self.errors = 0
        self.time = 0.0

    @classmethod
    def of(cls, clusters: Iterable[ClusterResult]) -> _Counts:
        counts = cls()
        for cluster in clusters:
            counts.tests += 1
            counts.failures += cluster.outcome in FAILURES
            counts.errors += cluster.outcome in ERRORS
            counts.time += _time(cluster)
        return counts

    def add(self, other: _Counts) -> None:
        self.tests += other.tests
        self.failures += other.failures
        self.errors += other.errors
        self.time += other.time

    def attributes(self) -> dict[str, str]:
        return {
            "tests": str(self.tests),
            "failures": str(self.failures),
            "errors": str(self.errors),
            "skipped": "0",
            "time": _seconds(self.time),
        }


def _by_project(clusters: Iterable[ClusterResult]) -> dict[tuple[str, str], list[ClusterResult]]:
    """Clusters grouped by (project, endpoint), in the report's order."""
    groups: dict[tuple[str, str], list[ClusterResult]] = {}
    for cluster in clusters:
        groups.setdefault((cluster.project, cluster.endpoint), []).append(cluster)
    return groups


def _ids_at_several_endpoints(groups: Iterable[tuple[str, str]]) -> set[str]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for project, _ in groups:
        (repeated if project in seen else seen).add(project)
    return repeated


def _time(cluster: ClusterResult) -> float:
    return cluster.submit_to_terminal_seconds or 0.0


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _host(endpoint: str) -> str:
    return urlsplit(endpoint).hostname or endpoint


def _timestamp(iso: str) -> str:
    """JUnit's timestamp: ISO 8601 to the second, without a zone (the report's is UTC)."""
    return iso[:19]


def _safe(text: str) -> str:
    """``text`` with what XML 1.0 cannot hold shown as ``\\xNN``; ElementTree escapes the rest."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}", text)
