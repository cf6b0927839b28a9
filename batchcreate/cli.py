"""The ``batchcreate`` command: ``run``, ``validate`` and ``simulate``.

Exit codes: 0 every cluster created or existing; 1 any other outcome; 2 invalid manifest
or usage (nothing sent, no report written); 3 credentials missing or rejected before any
cluster was created; 75 another run holds the report's lock; 130 / 143 stopped by SIGINT /
SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import math
import os
import re
import signal
import ssl
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from batchcreate import __version__
from batchcreate.app import (
    DEFAULT_TIME_SCALE,
    SimulateOptions,
    TlsOptions,
    preview_batch,
    run_batch,
)
from batchcreate.durations import parse_duration
from batchcreate.errors import BatchcreateError, CredentialsError, ManifestError, Problem
from batchcreate.junit import render_junit, write_junit
from batchcreate.lock import LockedError
from batchcreate.logs import LEVELS, configure_logging
from batchcreate.manifest import load_manifest
from batchcreate.merge import ReportError, load_report, merge_reports
from batchcreate.metrics import DURATION_BUCKETS, write_run_metrics
from batchcreate.plan import BatchPlan
from batchcreate.preview import ProjectPreview, offline_preview, preview_json, render_preview
from batchcreate.progress import summary_table
from batchcreate.render import render_plan, render_problems, render_summary
from batchcreate.report import Report, report_pieces, write_report
from batchcreate.schemas import SCHEMAS, render_schema
from batchcreate.settings import PollSettings, RetrySettings, Settings
from batchcreate.shard import parse_shard, select
from batchcreate.simulator.faults import FaultConfig, parse_fault_spec

T = TypeVar("T")

#: Net allocations between young garbage collections during a run (see ``cmd_run``).
GC_YOUNG_THRESHOLD = 50_000
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CREDENTIALS = 0, 1, 2, 3
EXIT_LOCKED, EXIT_SIGINT, EXIT_SIGTERM = 75, 130, 143

EPILOG_EXIT = """exit codes:
  0    every cluster is created or existing
  1    any cluster ended otherwise (failed, timed_out, rejected, not_started)
  2    invalid, unreadable or unparsable manifest, or bad usage: nothing sent, no report
  3    credentials missing or rejected before any cluster was created
  75   another run is using the same report path (its lock is held)
  130  stopped by SIGINT (Ctrl-C): the report marks unfinished clusters interrupted
  143  stopped by SIGTERM: the same
"""


def argument_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` as an argparse ``type``: its ``ValueError`` becomes the one-line message
    argparse shows beside the flag."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


_duration = argument_type(parse_duration)
_faults = argument_type(parse_fault_spec)
_shard = argument_type(parse_shard)


def _positive_duration(text: str) -> float:
    seconds = _duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0, got {text!r}")
    return seconds


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, got {text}")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", choices=LEVELS, default="info", help="default: info")
    parser.add_argument(
        "--log-format",
        choices=("auto", "json", "console"),
        default="auto",
        help="json lines or console text on stderr; auto: console on a terminal, else json",
    )
    parser.add_argument(
        "--log-file",
        metavar="PATH",
        help="append the log to PATH instead of stderr (json unless --log-format console)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (override the manifest's settings)")
    group.add_argument(
        "--rate-limit",
        type=_positive(float),
        metavar="N",
        help="API calls per second to one endpoint (settings.rateLimit)",
    )
    group.add_argument(
        "--max-in-flight",
        type=_positive(int),
        metavar="N",
        help="clusters submitted and not yet terminal, whole batch (settings.maxInFlight)",
    )
    group.add_argument(
        "--max-in-flight-per-project",
        type=_positive(int),
        metavar="N",
        help="the same, per project (settings.maxInFlightPerProject)",
    )
    group.add_argument(
        "--timeout",
        type=_positive_duration,
        metavar="DURATION",
        help="per cluster, submission to terminal phase (settings.timeout)",
    )
    group.add_argument(
        "--poll-initial-delay",
        type=_duration,
        metavar="DURATION",
        help="settings.poll.initialDelay",
    )
    group.add_argument(
        "--poll-interval",
        type=_positive_duration,
        metavar="DURATION",
        help="settings.poll.interval",
    )
    group.add_argument(
        "--poll-max-interval",
        type=_positive_duration,
        metavar="DURATION",
        help="settings.poll.maxInterval",
    )
    group.add_argument(
        "--poll-backoff",
        type=_positive(float),
        metavar="FACTOR",
        help="settings.poll.backoff (interval growth per poll, >= 1)",
    )
    group.add_argument(
        "--retry-attempts", type=_positive(int), metavar="N", help="settings.retry.attempts"
    )
    group.add_argument(
        "--retry-base-delay", type=_duration, metavar="DURATION", help="settings.retry.baseDelay"
    )
    group.add_argument(
        "--retry-max-delay", type=_duration, metavar="DURATION", help="settings.retry.maxDelay"
    )
    group.add_argument(
        "--request-timeout",
        type=_positive_duration,
        metavar="DURATION",
        help="settings.requestTimeout: the limit for one HTTP call (default 30s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchcreate",
        description="Create fleets of Huawei Cloud CCE clusters from one manifest.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG_EXIT,
    )
    parser.add_argument("--version", action="version", version=f"batchcreate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="create every cluster of a manifest and write a JSON report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  batchcreate run jobs/demo.yaml --simulate --report demo-report.json\n"
        "  BATCHCREATE_TOKEN=... batchcreate run jobs/fleet.yaml --report /var/lib/fleet.json\n\n"
        + EPILOG_EXIT,
    )
    run.add_argument("manifest", type=Path, help="the manifest (YAML or JSON)")
    run.add_argument(
        "--report",
        type=Path,
        metavar="PATH",
        help="where to write the report (default: ./<batch name>-report.json)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="show, per project, what would be created and what already exists (one list "
        "call per project, no create); with --json as JSON",
    )
    run.add_argument("--json", action="store_true", help="with --dry-run: print JSON")
    run.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="write Prometheus text metrics (node-exporter textfile collector; name it *.prom)",
    )
    run.add_argument(
        "--junit", type=Path, metavar="PATH", help="write one JUnit test case per cluster"
    )
    run.add_argument(
        "--no-progress", action="store_true", help="draw no live progress view on a terminal"
    )
    run.add_argument(
        "--ca-bundle",
        type=Path,
        metavar="PATH",
        help="verify servers against this CA bundle (private clouds)",
    )
    run.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify TLS certificates (dangerous; recorded in the report)",
    )
    run.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="run only shard I of N (I from 0, as a Kubernetes Indexed Job's "
        "JOB_COMPLETION_INDEX): a stable, disjoint part of the projects",
    )
    _add_settings_flags(run)
    sim = run.add_argument_group("embedded simulator")
    sim.add_argument(
        "--simulate",
        action="store_true",
        help="run against an in-process simulator on loopback instead of the cloud",
    )
    sim.add_argument(
        "--sim-job-duration",
        type=_positive_duration,
        metavar="DURATION",
        help="how long a simulated creation job takes (default 3s)",
    )
    sim.add_argument(
        "--sim-fail-rate",
        type=_fraction,
        metavar="FRACTION",
        help="fraction of simulated jobs that fail (default 0)",
    )
    sim.add_argument("--sim-seed", type=int, metavar="N", help="seed for the simulator's draws")
    sim.add_argument(
        "--sim-faults",
        type=_faults,
        metavar="SPEC",
        help="faults the simulator injects, e.g. 'throttle=0.05,errors=0.05,resets=0.02,"
        "lost_creates=0.02,job_expiry=30s' (see README: Simulator faults)",
    )
    sim.add_argument(
        "--time-scale",
        type=_positive(float),
        metavar="FACTOR",
        help="multiplies the poll schedule and the timeout to fit the simulator's short jobs "
        f"(default {DEFAULT_TIME_SCALE:g}: an initialDelay of 150s becomes 1.5s)",
    )
    _add_common(run)

    validate = commands.add_parser(
        "validate",
        help="check a manifest offline and show what would be created",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  batchcreate validate jobs/demo.yaml\n\n"
        "exit codes: 0 valid; 2 invalid (every problem is listed, one per line)\n",
    )
    validate.add_argument("manifest", type=Path)
    validate.add_argument("--json", action="store_true", help="print the plan as JSON")
    validate.add_argument(
        "--plan",
        action="store_true",
        help="also show what already exists: with credentials, one list call per project "
        "(no create); without, offline",
    )
    _add_common(validate)

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of manifests or reports",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  batchcreate schema manifest > manifest.schema.json\n"
        "  batchcreate schema report\n",
    )
    schema.add_argument("name", choices=sorted(SCHEMAS), help="which schema")
    _add_common(schema)

    report = commands.add_parser(
        "report",
        help="work with reports: merge shard reports into one",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  batchcreate report merge shard-0.json shard-1.json -o fleet.json\n\n"
        "exit codes: 0 merged; 2 a report is unreadable, invalid or from another batch\n",
    )
    report_commands = report.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    merge = report_commands.add_parser(
        "merge",
        help="combine shard reports into one report with a summary over all",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  batchcreate report merge shard-*.json -o fleet.json\n",
    )
    merge.add_argument("reports", type=Path, nargs="+", metavar="REPORT")
    merge.add_argument("-o", "--output", type=Path, required=True, metavar="PATH")
    _add_common(merge)

    simulate = commands.add_parser(
        "simulate",
        help="serve a fake CCE API on loopback",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  batchcreate simulate --port 8443 --job-duration 5s --fail-rate 0.1\n"
        "then point a project at it with  endpoint: http://127.0.0.1:8443\n",
    )
    simulate.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    simulate.add_argument("--port", type=int, default=8443, help="default: 8443 (0: any free)")
    simulate.add_argument("--token", help="accept this X-Auth-Token on every call")
    simulate.add_argument("--ak", help="accept calls signed with this access key (with --sk)")
    simulate.add_argument("--sk", help="the secret key of --ak")
    simulate.add_argument(
        "--security-token", help="make --ak a temporary key that must send this X-Security-Token"
    )
    simulate.add_argument("--iam-user", help="an IAM user who may get tokens at /v3/auth/tokens")
    simulate.add_argument("--iam-password", help="the password of --iam-user")
    simulate.add_argument(
        "--token-lifetime",
        type=_duration,
        default=24 * 3600.0,
        metavar="DURATION",
        help="how long issued IAM tokens live (default 24h)",
    )
    simulate.add_argument(
        "--job-duration",
        type=_duration,
        default=3.0,
        metavar="DURATION",
        help="how long a creation job takes (default 3s, ±30%%)",
    )
    simulate.add_argument(
        "--fail-rate",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="fraction of jobs that fail, leaving the cluster Unavailable or Error (default 0)",
    )
    simulate.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed for durations, failures and ids (reproducible runs)",
    )
    simulate.add_argument(
        "--quota", type=_positive(int), metavar="N", help="most clusters one project may hold"
    )
    simulate.add_argument(
        "--faults",
        type=_faults,
        metavar="SPEC",
        help="faults to inject, e.g. 'throttle=0.05,server_rate=20,errors=0.05,resets=0.02,"
        "slow=0.01,lost_creates=0.02,job_expiry=30s,stuck=0.01,broken=0.02' (see README)",
    )
    _add_common(simulate)
    return parser


def apply_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """The manifest's settings with every flag given laid over them."""

    def pick(flag: str, current: Any) -> Any:
        value = getattr(args, flag, None)
        return current if value is None else value

    return dataclasses.replace(
        settings,
        rate_limit=pick("rate_limit", settings.rate_limit),
        max_in_flight=pick("max_in_flight", settings.max_in_flight),
        max_in_flight_per_project=pick(
            "max_in_flight_per_project", settings.max_in_flight_per_project
        ),
        timeout=pick("timeout", settings.timeout),
        request_timeout=pick("request_timeout", settings.request_timeout),
        poll=PollSettings(
            initial_delay=pick("poll_initial_delay", settings.poll.initial_delay),
            interval=pick("poll_interval", settings.poll.interval),
            max_interval=pick("poll_max_interval", settings.poll.max_interval),
            backoff=pick("poll_backoff", settings.poll.backoff),
        ),
        retry=RetrySettings(
            attempts=pick("retry_attempts", settings.retry.attempts),
            base_delay=pick("retry_base_delay", settings.retry.base_delay),
            max_delay=pick("retry_max_delay", settings.retry.max_delay),
        ),
    )


def _load(args: argparse.Namespace) -> BatchPlan:
    try:
        plan = load_manifest(args.manifest)
    except RecursionError:
        raise ManifestError(
            [
                Problem(
                    str(args.manifest),
                    "nests too deeply, or refers to itself through a YAML anchor (&a ... *a)",
                )
            ]
        ) from None
    if getattr(args, "shard", None) is not None:
        plan = select(plan, args.shard)
    settings = apply_flags(plan.settings, args)
    problems = [Problem(f"--{k.replace('.', '-')}", m) for k, m in settings.problems()]
    if getattr(args, "poll_backoff", None) is not None and args.poll_backoff < 1:
        problems.append(Problem("--poll-backoff", "must be at least 1"))
    if problems:
        raise ManifestError(problems)
    return dataclasses.replace(plan, settings=settings)


def cmd_validate(args: argparse.Namespace) -> int:
    plan = _load(args)
    if args.plan:
        try:
            previews = asyncio.run(preview_batch(plan))
        except CredentialsError as exc:
            print(
                f"note: no credentials, so existing clusters are unknown ({exc})", file=sys.stderr
            )
            previews = offline_preview(plan)
        _print_preview(plan, previews, as_json=args.json)
        return _preview_code(previews)
    if args.json:
        projects = [
            {
                "id": p.id,
                "region": p.region,
                "endpoint": p.endpoint,
                "count": len(p.clusters),
                "clusters": [c.name for c in p.clusters],
            }
            for p in plan.projects
        ]
        print(
            json.dumps(
                {
                    "batch": plan.name,
                    "settings": plan.settings.to_report(),
                    "projects": projects,
                    "total": plan.cluster_count,
                },
                indent=2,
            )
        )
    else:
        print(render_plan(plan))
        print("manifest is valid")
    return EXIT_OK


def _preview_code(previews: list[ProjectPreview]) -> int:
    """3 when the service rejected the credentials, 1 when a project could not be listed."""
    if any(p.rejected for p in previews):
        return EXIT_CREDENTIALS
    return EXIT_FAILED if any(p.error for p in previews) else EXIT_OK


def _print_preview(plan: BatchPlan, previews: list[ProjectPreview], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(preview_json(plan, previews), indent=2))
    else:
        print(render_preview(plan, previews))


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def _report_path(args: argparse.Namespace, plan: BatchPlan) -> Path:
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "-", plan.name).strip("-.") or "batch"
    shard = getattr(args, "shard", None)
    if shard is not None:  # shards in one directory must not share a report (or its lock)
        safe_name += f"-shard-{shard.index}-of-{shard.count}"
    path: Path = args.report or Path(f"{safe_name}-report.json")
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ManifestError([Problem("--report", f"{path} is a directory")])
    if not parent.is_dir():
        raise ManifestError([Problem("--report", f"directory {parent} does not exist")])
    if not os.access(parent, os.W_OK):
        raise ManifestError([Problem("--report", f"directory {parent} is not writable")])
    return path


def cmd_run(args: argparse.Namespace) -> int:
    plan = _load(args)
    path = _report_path(args, plan) if not args.dry_run else Path("-")
    sim_flags = {
        "--sim-job-duration": args.sim_job_duration,
        "--sim-fail-rate": args.sim_fail_rate,
        "--sim-seed": args.sim_seed,
        "--sim-faults": args.sim_faults,
        "--time-scale": args.time_scale,
    }
    stray = [flag for flag, value in sim_flags.items() if value is not None]
    if stray and not args.simulate:
        # Forgetting --simulate while rehearsing must not reach the cloud.
        raise ManifestError(
            [
                Problem(flag, "only with --simulate; without it the run goes to the cloud")
                for flag in stray
            ]
        )
    defaults = SimulateOptions()
    simulate = (
        SimulateOptions(
            job_duration=_or(args.sim_job_duration, defaults.job_duration),
            fail_rate=_or(args.sim_fail_rate, defaults.fail_rate),
            seed=args.sim_seed,
            time_scale=_or(args.time_scale, defaults.time_scale),
            faults=args.sim_faults or FaultConfig(),
        )
        if args.simulate
        else None
    )
    if args.ca_bundle is not None:
        try:
            TlsOptions(ca_bundle=args.ca_bundle).ssl_setting()
        except (OSError, ssl.SSLError) as exc:
            raise ManifestError(
                [Problem("--ca-bundle", f"{args.ca_bundle} is not a readable CA bundle ({exc})")]
            ) from None
    if args.insecure:
        print(
            "WARNING: --insecure: TLS certificates are NOT verified; anyone on the network "
            "path can read and alter every call, credentials included",
            file=sys.stderr,
        )
    tls = TlsOptions(ca_bundle=args.ca_bundle, insecure=args.insecure)
    if args.dry_run:
        previews = asyncio.run(preview_batch(plan, simulate=simulate, tls=tls))
        _print_preview(plan, previews, as_json=args.json)
        return _preview_code(previews)
    show_progress = sys.stderr.isatty() and not args.no_progress
    progress = Console(stderr=True) if show_progress else None
    extra = {"shard": args.shard.to_report()} if args.shard is not None else None
    # The plan and everything loaded so far live as long as the run: out of the garbage
    # collector's sight, a full collection no longer rescans a large fleet's plan (each
    # scan stalls the event loop, and the rate limiter loses the slots it stalls through).
    # Only the young generations are collected first: loading leaves no cyclic garbage
    # behind (measured: none, at 10,000 clusters), and a full collection of everything
    # imported would cost 30 ms of CPU every run.
    gc.collect(1)
    gc.freeze()
    # A young collection every 700 net allocations (the default) costs a large fleet 15-20%
    # of its CPU, and each stalls the event loop: most of a run's allocations die young
    # (requests, answers, log events), so collecting after 50,000 net ones finds the same
    # garbage a few times per run instead of thousands (20,000 clusters: 4.7 s of
    # collections, then 0.2 s). Cycles wait longer to be freed: a few MB at most.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)
    result = asyncio.run(
        run_batch(plan, path, simulate=simulate, tls=tls, progress=progress, extra_settings=extra)
    )
    if sys.stdout.isatty():
        Console().print(summary_table(result.report))
        print(f"report: {path}")
    else:
        print(render_summary(result.report, path))
    code = result.exit_code
    for flag, target, write in (
        ("--metrics-file", args.metrics_file, _write_metrics),
        ("--junit", args.junit, _write_junit),
    ):
        if target is None:
            continue
        try:
            write(target, result.report)
        except OSError as exc:
            print(f"error: {flag}: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
            code = max(code, EXIT_FAILED)
    if result.report_error is not None:
        print(
            f"error: could not write the report to {path}: {result.report_error}; "
            "it is printed on stdout instead",
            file=sys.stderr,
        )
        sys.stdout.writelines(report_pieces(result.report))
        print()
        return max(code, EXIT_FAILED)
    return code


def _write_metrics(path: Path, report: Report) -> None:
    scale = report.settings.get("timeScale")
    # Under --simulate, durations are compressed: so are the histogram's buckets.
    factor = 1.0 if scale is None else float(scale)
    shard = report.settings.get("shard")
    # Shards' files sit side by side in one textfile collector: their series must differ.
    labels = {"shard": f"{shard['index']}/{shard['count']}"} if shard else None
    write_run_metrics(
        path,
        report,
        now=time.time(),
        buckets=[b * factor for b in DURATION_BUCKETS],
        labels=labels,
    )


def _write_junit(path: Path, report: Report) -> None:
    write_junit(path, render_junit(report))


def cmd_schema(args: argparse.Namespace) -> int:
    print(render_schema(args.name), end="")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    try:
        reports = [load_report(path) for path in args.reports]
        merged = merge_reports(reports, names=[str(path) for path in args.reports])
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    missing = merged.settings.get("shards", {}).get("missing") or []
    if missing:
        print(f"warning: no report for shards {missing}", file=sys.stderr)
    try:
        write_report(merged, args.output)
    except OSError as exc:
        print(f"error: -o: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(render_summary(merged, args.output))
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from batchcreate.simulator.cli import serve

    return serve(args)


class Terminated(BaseException):
    """SIGTERM arrived before the batch began: leave as the signal asks."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    # Honour SIGTERM from the very start: a run stopped while it reads its manifest exits 143
    # cleanly. (SIGINT already raises KeyboardInterrupt.) During the batch, the run installs
    # its own graceful handlers.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    except Terminated:
        print("stopped by SIGTERM", file=sys.stderr)
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        print("stopped by SIGINT", file=sys.stderr)
        return EXIT_SIGINT


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(args.log_level, args.log_format, file=args.log_file)
    except OSError as exc:
        print(f"error: --log-file: cannot open {args.log_file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    handlers = {
        "run": cmd_run,
        "validate": cmd_validate,
        "simulate": cmd_simulate,
        "schema": cmd_schema,
        "report": cmd_report,
    }
    try:
        return handlers[args.command](args)
    except ManifestError as exc:
        source = str(getattr(args, "manifest", ""))
        print(render_problems(exc.problems, source), file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''}; nothing was sent", file=sys.stderr)
        return EXIT_USAGE
    except CredentialsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CREDENTIALS
    except LockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except BatchcreateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"internal error: {exc!r} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILED
