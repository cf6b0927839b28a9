"""The runner in virtual time: the in-memory fake CCE and a virtual clock, no sockets."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from batchcreate.app import RunResult, execute
from batchcreate.auth import Authenticator, NoAuth, TokenAuth
from batchcreate.clock import VirtualClock
from batchcreate.manifest import build_plan
from batchcreate.report import Outcome
from batchcreate.runner import exit_code_for
from batchcreate.simulator.fake_cce import Behaviour, FakeCce, SimulatorConfig
from batchcreate.simulator.memory import InMemoryTransport
from batchcreate.wire import Request, Response
from tests.conftest import manifest_dict

SLOW_POLLS = {
    "timeout": "30m",
    "poll": {"initialDelay": "150s", "interval": "20s", "maxInterval": "60s", "backoff": 1.5},
}


class RecordingTransport(InMemoryTransport):
    """The in-memory transport, noting when each call was sent, with optional hooks."""

    def __init__(
        self,
        cce: FakeCce,
        clock: VirtualClock,
        hook: Callable[[Request, Response], Response] | None = None,
    ) -> None:
        super().__init__(cce)
        self.clock = clock
        self.hook = hook
        self.log: list[tuple[float, str, str]] = []

    async def send(self, request: Request) -> Response:
        self.log.append((self.clock.monotonic(), request.kind, request.url))
        response = await super().send(request)
        return self.hook(request, response) if self.hook else response

    def times(self, kind: str) -> list[float]:
        return [t for t, k, _ in self.log if k == kind]


async def run(
    manifest: dict[str, Any],
    cce: FakeCce,
    clock: VirtualClock,
    *,
    auth: Authenticator | None = None,
    hook: Callable[[Request, Response], Response] | None = None,
) -> tuple[RunResult, RecordingTransport]:
    transport = RecordingTransport(cce, clock, hook)
    plan = build_plan(manifest)
    result = await clock.run(execute(plan, transport, auth or NoAuth(), clock))
    return result, transport


def outcomes(result: RunResult) -> dict[str, Outcome]:
    return {c.name: c.outcome for c in result.report.clusters}


def fake(clock: VirtualClock, **config: Any) -> FakeCce:
    config.setdefault("duration_jitter", 0.0)
    config.setdefault("seed", 3)
    return FakeCce(SimulatorConfig(**config), clock=clock)


async def test_the_project_list_watches_the_job_on_the_classic_schedule() -> None:
    """A lone job, nothing learned yet: the project is listed after initialDelay, then at
    gaps growing by backoff up to maxInterval; the list shows the cluster Available, which
    settles it: no job poll, no cluster read."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=480.0)
    result, transport = await run(
        manifest_dict({"p1": ["solo-cluster"]}, settings=SLOW_POLLS), cce, clock
    )
    accepted = transport.times("create")[0]
    first, *watching = transport.times("list")
    assert first < accepted  # the existence check before the create
    gaps = [round(t - accepted, 3) for t in watching]
    assert gaps == [150.0, 170.0, 200.0, 245.0, 305.0, 365.0, 425.0, 485.0]
    assert transport.times("job") == transport.times("cluster") == []
    (cluster,) = result.report.clusters
    assert cluster.outcome is Outcome.CREATED
    assert (cluster.job_phase, cluster.cluster_phase) == (None, "Available")
    assert cluster.polls == 0
    assert cluster.submit_to_terminal_seconds == pytest.approx(485.0, abs=0.01)
    assert result.report.calls["byKind"] == {"create": 1, "list": 9}
    assert result.exit_code == 0


async def test_deadline_ends_the_wait_with_timed_out_and_the_last_phase() -> None:
    """A job still running at the timeout: the project is listed once more at the deadline,
    then the cluster is timed out with the phase the list last showed."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=3_000.0)
    settings = {**SLOW_POLLS, "timeout": "10m"}
    result, transport = await run(
        manifest_dict({"p1": ["slow-cluster"]}, settings=settings), cce, clock
    )
    (cluster,) = result.report.clusters
    assert cluster.outcome is Outcome.TIMED_OUT
    assert cluster.cluster_phase == "Creating"
    assert cluster.reason == "still Creating after 10m"
    submitted = transport.times("create")[0]
    assert transport.times("list")[-1] == pytest.approx(submitted + 600.0)
    assert transport.times("list")[-2] < submitted + 600.0
    assert cluster.submit_to_terminal_seconds == pytest.approx(600.0, abs=0.01)
    assert result.exit_code == 1


async def test_failed_job_reports_its_reason_and_the_cluster_phase() -> None:
    """Job Failed is terminal: the outcome is failed with status.reason and the cluster phase."""
    clock = VirtualClock()
    reason = "Failed to create master node: no capacity"
    cce = fake(
        clock,
        job_duration=60.0,
        behaviours={
            "doomed-one": Behaviour(job_phase="Failed", cluster_phase="Error", reason=reason)
        },
    )
    result, _ = await run(manifest_dict({"p1": ["doomed-one", "happy-one"]}), cce, clock)
    by_name = {c.name: c for c in result.report.clusters}
    assert by_name["doomed-one"].outcome is Outcome.FAILED
    assert by_name["doomed-one"].reason == reason
    assert by_name["doomed-one"].job_phase == "Failed"
    assert by_name["doomed-one"].cluster_phase == "Error"
    assert by_name["happy-one"].outcome is Outcome.CREATED
    assert result.exit_code == 1


async def test_successful_job_with_an_unavailable_cluster_is_a_failure() -> None:
    """After job Success the cluster phase decides: Unavailable fails with the cluster's reason."""
    clock = VirtualClock()
    cce = fake(
        clock,
        job_duration=60.0,
        behaviours={"broken-one": Behaviour(cluster_phase="Unavailable", reason="etcd lost")},
    )
    result, _ = await run(manifest_dict({"p1": ["broken-one"]}), cce, clock)
    (cluster,) = result.report.clusters
    assert (cluster.outcome, cluster.job_phase, cluster.cluster_phase) == (
        Outcome.FAILED,
        "Success",
        "Unavailable",
    )
    assert cluster.reason == "etcd lost"


async def test_existing_clusters_are_not_created_again() -> None:
    """A name already in the project is reported existing, or followed while it is Creating."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=60.0)
    ready = cce.seed_cluster("p1", "ready-one")
    cce.seed_cluster("p1", "building-one", phase="Available", job_remaining=100.0)
    cce.seed_cluster("p1", "broken-one", phase="Unavailable", reason="master lost")
    result, transport = await run(
        manifest_dict({"p1": ["ready-one", "building-one", "broken-one", "fresh-one"]}),
        cce,
        clock,
    )
    by_name = {c.name: c for c in result.report.clusters}
    assert by_name["ready-one"].outcome is Outcome.EXISTING
    assert by_name["ready-one"].cluster_id == ready.uid
    assert by_name["ready-one"].attempts == 0
    assert by_name["building-one"].outcome is Outcome.EXISTING
    assert by_name["building-one"].cluster_phase == "Available"
    assert by_name["broken-one"].outcome is Outcome.FAILED
    assert by_name["broken-one"].reason == "master lost"
    assert by_name["fresh-one"].outcome is Outcome.CREATED
    assert cce.create_calls == {("p1", "fresh-one"): 1}
    # One list checked every name before the create; the later ones watched the jobs.
    assert [t for t in transport.times("list") if t <= transport.times("create")[0]] == [0.0]


async def run_fleet(
    projects: int, per_project: int, *, max_in_flight: int, max_per_project: int
) -> RunResult:
    """Projects ``p0``, ``p1``, ... of ``per_project`` clusters each: jobs of 30 s, a rate
    that never holds a call back, lists every 5 s from 10 s after a create."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0)
    names = {f"p{j}": [f"c-{j}-{i:03d}" for i in range(per_project)] for j in range(projects)}
    settings = {
        "rateLimit": 1000,
        "maxInFlight": max_in_flight,
        "maxInFlightPerProject": max_per_project,
        "poll": {"initialDelay": "10s", "interval": "5s", "maxInterval": "5s"},
    }
    result, _ = await run(manifest_dict(names, settings=settings), cce, clock)
    assert result.report.summary.created == projects * per_project
    return result


async def test_in_flight_limits_hold_for_the_batch_and_each_project() -> None:
    """No more than maxInFlight clusters, and maxInFlightPerProject per project, are in flight."""
    result = await run_fleet(3, 12, max_in_flight=7, max_per_project=3)
    spans = [
        (r.submitted.mono, r.terminal.mono, r.project.id)
        for r in result.records
        if r.submitted and r.terminal
    ]

    def peak(selected: list[tuple[float, float, str]]) -> int:
        events = sorted([(s, 1) for s, _, _ in selected] + [(e, -1) for _, e, _ in selected])
        level = best = 0
        for _, step in events:
            level += step
            best = max(best, level)
        return best

    assert peak(spans) == 7
    for project in ("p0", "p1", "p2"):
        assert peak([s for s in spans if s[2] == project]) == 3


async def test_slots_freed_together_go_to_the_next_project_together() -> None:
    """When one list sees a project's jobs all end, the freed in-flight slots go to the
    next project of the manifest, all of them: the clusters in flight stay in as few
    projects as possible (one list watches them all), not one cluster in each project."""
    result = await run_fleet(3, 4, max_in_flight=4, max_per_project=4)
    by_start = sorted(result.records, key=lambda r: r.submitted.mono if r.submitted else 0.0)
    assert [r.project.id for r in by_start] == ["p0"] * 4 + ["p1"] * 4 + ["p2"] * 4


async def test_slots_taken_for_clusters_found_ready_go_back_at_once() -> None:
    """A project asks for a slot per cluster left; those whose cluster turns out to exist,
    ready, are given back at once: the next project's creates do not wait for the first
    project's jobs (300 s)."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=300.0)
    for name in ("ready-one", "ready-two"):
        cce.seed_cluster("p0", name)
    names = {"p0": ["fresh-zero", "ready-one", "ready-two"], "p1": ["next-one", "next-two"]}
    settings = {"rateLimit": 1000, "maxInFlight": 3, "maxInFlightPerProject": 3}
    result, transport = await run(manifest_dict(names, settings=settings), cce, clock)
    assert result.report.summary.created == 3
    assert result.report.summary.existing == 2
    assert max(transport.times("create")) < 1.0


async def test_every_call_respects_the_endpoint_rate_limit() -> None:
    """Each endpoint gets at most rateLimit calls in any one-second window; endpoints are apart."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=20.0)
    manifest = manifest_dict(
        {"p1": [f"north-{i:02d}" for i in range(15)]},
        settings={
            "rateLimit": 4,
            "maxInFlightPerProject": 50,
            "poll": {"initialDelay": "5s", "interval": "2s"},
        },
    )
    south = manifest_dict({"p2": [f"south-{i:02d}" for i in range(15)]}, region="ap-southeast-1")[
        "projects"
    ]
    manifest["projects"] += south
    result, transport = await run(manifest, cce, clock)
    assert result.report.summary.created == 30
    for region in ("cn-north-4", "ap-southeast-1"):
        times = sorted(t for t, _, url in transport.log if region in url)
        assert times, region
        window_peak = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
        assert window_peak == 4
    both = sorted(t for t, _, _ in transport.log)
    assert max(sum(1 for u in both if t <= u < t + 1.0) for t in both) == 8


async def test_quota_refusal_is_rejected_with_the_error_code() -> None:
    """A 4xx other than 409/429 on create is outcome rejected, carrying the service's code."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0, quota=1)
    result, _ = await run(
        manifest_dict({"p1": ["first-one", "second-one"]}, settings={"maxInFlightPerProject": 1}),
        cce,
        clock,
    )
    by_name = {c.name: c for c in result.report.clusters}
    assert by_name["first-one"].outcome is Outcome.CREATED
    second = by_name["second-one"]
    assert second.outcome is Outcome.REJECTED
    assert second.last_error is not None
    assert (second.last_error.http_status, second.last_error.error_code) == (400, "CCE.01400007")
    assert second.last_error.request_id
    assert second.attempts == 1


async def test_conflict_on_create_follows_the_cluster_as_existing() -> None:
    """A 409 for a name that appeared after the list: the cluster is found and followed."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0)
    seeded: dict[str, str] = {}

    def sneak_in(request: Request, response: Response) -> Response:
        if request.kind == "list" and not seeded:
            seeded["uid"] = cce.seed_cluster("p1", "racy-one", job_remaining=40.0).uid
        return response

    result, transport = await run(manifest_dict({"p1": ["racy-one"]}), cce, clock, hook=sneak_in)
    (cluster,) = result.report.clusters
    assert cluster.outcome is Outcome.EXISTING
    assert cluster.cluster_id == seeded["uid"]
    assert cluster.last_error is not None
    assert cluster.last_error.http_status == 409
    # The list before the create, the look-up after the 409, then the watch: a cluster found
    # running, of unknown age, is looked at one interval later, when it is done.
    lists = transport.times("list")
    assert lists[:2] == [0.0, pytest.approx(0.2)]
    assert lists[2:] == [pytest.approx(0.2 + 20.0), pytest.approx(0.2 + 40.0)]
    assert cce.created == {}


async def test_lost_create_answer_adopts_the_cluster_without_sending_again() -> None:
    """A 5xx after the server created the cluster: a re-list finds it; no second POST."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0)

    def lose_answer(request: Request, response: Response) -> Response:
        if request.kind == "create":
            return Response(502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>")
        return response

    result, _ = await run(manifest_dict({"p1": ["lost-one"]}), cce, clock, hook=lose_answer)
    (cluster,) = result.report.clusters
    assert cluster.outcome is Outcome.CREATED
    assert cluster.cluster_id == cce.cluster_named("p1", "lost-one").uid  # type: ignore[union-attr]
    assert cce.create_calls == {("p1", "lost-one"): 1}


def _refusing(cce: FakeCce, failures: int) -> Callable[[Request, Response], Response]:
    """A hook that turns the first ``failures`` creates into 500s the server never processed."""
    seen = {"creates": 0}

    def hook(request: Request, response: Response) -> Response:
        if request.kind == "create":
            seen["creates"] += 1
            if seen["creates"] <= failures:
                cce.clusters.clear()
                cce.jobs.clear()
                cce.created.clear()
                return Response(
                    500,
                    {"X-Request-Id": f"req-{seen['creates']}"},
                    b'{"error_code": "CCE.01500001", "error_msg": "Internal error"}',
                )
        return response

    return hook


async def test_create_with_unknown_outcome_is_resent_only_after_a_list_lacks_it() -> None:
    """After a 500 the project is listed before every resend; the budget of attempts ends it."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0)
    result, transport = await run(
        manifest_dict({"p1": ["unlucky-one"]}, settings={"retry": {"attempts": 4}}),
        cce,
        clock,
        hook=_refusing(cce, failures=100),
    )
    (cluster,) = result.report.clusters
    assert cluster.outcome is Outcome.FAILED
    assert cluster.reason is not None
    assert "create failed 4 times" in cluster.reason
    assert "not in the project's list" in cluster.reason
    assert cluster.attempts == 4
    assert cluster.last_error is not None
    assert (cluster.last_error.http_status, cluster.last_error.request_id) == (500, "req-4")
    kinds = [kind for _, kind, _ in transport.log]
    assert kinds == ["list"] + ["create", "list"] * 4
    assert result.exit_code == 1


async def test_create_that_failed_once_succeeds_on_the_resend() -> None:
    """One 500, a list without the name, then a resend that is accepted: created, 2 sends."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0)
    result, transport = await run(
        manifest_dict({"p1": ["second-try"]}), cce, clock, hook=_refusing(cce, failures=1)
    )
    (cluster,) = result.report.clusters
    assert cluster.outcome is Outcome.CREATED
    assert cluster.attempts == 2
    assert len(transport.times("create")) == 2
    assert cce.created == {("p1", "second-try"): 1}


async def test_throttled_sends_do_not_spend_the_resend_budget() -> None:
    """Creates refused with 429s are sent again without counting against
    ``retry.attempts`` (only 5xx and lost answers do): five 429s, then a 500, then the
    resend that is accepted, with a budget of 2."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0)
    refusals = iter([429] * 5 + [500])

    def hook(request: Request, response: Response) -> Response:
        if request.kind != "create":
            return response
        status = next(refusals, None)
        if status is None:
            return response
        cce.clusters.clear()
        cce.jobs.clear()
        cce.created.clear()
        code = "APIGW.0308" if status == 429 else "CCE.01500001"
        body = f'{{"error_code": "{code}", "error_msg": "refused"}}'.encode()
        return Response(status, {"Retry-After": "1"} if status == 429 else {}, body)

    result, transport = await run(
        manifest_dict({"p1": ["patient-one"]}, settings={"retry": {"attempts": 2}}),
        cce,
        clock,
        hook=hook,
    )
    (cluster,) = result.report.clusters
    assert cluster.outcome is Outcome.CREATED, cluster.reason
    assert cluster.attempts == 7  # every send of the body is counted in the report
    assert len(transport.times("create")) == 7
    assert cce.created == {("p1", "patient-one"): 1}


async def test_a_409_after_a_lost_create_is_our_own_cluster() -> None:
    """A create processed late (absent from the first re-list) makes the resend a 409: the
    cluster is this run's own, reported created, and the server created it once."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0)
    stash: dict[str, Any] = {}

    def slow_server(request: Request, response: Response) -> Response:
        if request.kind == "create" and not stash:
            ((key, cluster),) = cce.clusters.items()
            stash["cluster"] = (key, cluster, cce.jobs.copy())
            cce.clusters.clear()
            cce.jobs.clear()
            return Response(504, {}, b"<html>Gateway Timeout</html>")
        return response

    class LateArrival(RecordingTransport):
        async def send(self, request: Request) -> Response:
            if request.kind == "create" and stash and "restored" not in stash:
                key, cluster, jobs = stash["cluster"]
                cce.clusters[key] = cluster
                cce.jobs.update(jobs)
                stash["restored"] = True
            return await super().send(request)

    transport = LateArrival(cce, clock, slow_server)
    plan = build_plan(manifest_dict({"p1": ["late-one"]}))
    result = await clock.run(execute(plan, transport, NoAuth(), clock))
    (cluster,) = result.report.clusters
    assert cluster.outcome is Outcome.CREATED
    assert cluster.attempts == 2
    assert cluster.cluster_id == stash["cluster"][1].uid
    assert cce.created == {("p1", "late-one"): 1}
    assert cce.create_calls == {("p1", "late-one"): 2}


async def test_vanished_job_falls_back_to_the_cluster_phase() -> None:
    """A broken cluster whose job record expired (404): the cluster's own phase and reason
    settle the outcome."""
    clock = VirtualClock()
    cce = fake(
        clock,
        job_duration=300.0,
        behaviours={"amnesic-one": Behaviour(cluster_phase="Unavailable", reason="etcd lost")},
    )

    def expire_jobs(request: Request, response: Response) -> Response:
        if request.kind == "list":
            cce.jobs.clear()
        return response

    result, transport = await run(
        manifest_dict({"p1": ["amnesic-one"]}, settings=SLOW_POLLS), cce, clock, hook=expire_jobs
    )
    (cluster,) = result.report.clusters
    assert (cluster.outcome, cluster.reason) == (Outcome.FAILED, "etcd lost")
    assert cluster.cluster_phase == "Unavailable"
    assert cluster.job_phase is None
    assert cluster.last_error is not None
    assert cluster.last_error.http_status == 404
    assert len(transport.times("job")) == 1


async def test_rejected_credentials_before_anything_exits_3() -> None:
    """A 401 on every list means nothing was created: all not_started, exit code 3."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0, token="right-token")
    result, transport = await run(
        manifest_dict({"p1": ["one-cluster"], "p2": ["two-cluster"]}),
        cce,
        clock,
        auth=TokenAuth("wrong-token"),
    )
    assert {c.outcome for c in result.report.clusters} == {Outcome.NOT_STARTED}
    first = result.report.clusters[0]
    assert first.last_error is not None
    assert first.last_error.error_code == "APIGW.0301"
    assert transport.times("create") == []
    assert result.exit_code == 3


async def test_a_401_on_create_stops_every_later_create() -> None:
    """Once the service rejects the credentials, nothing more is sent; exit 3 even though a
    cluster already existed (it was not created by this run)."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0)
    cce.seed_cluster("p1", "old-one")

    def reject_creates(request: Request, response: Response) -> Response:
        if request.kind == "create":
            return Response(401, {}, b'{"error_code": "APIGW.0301", "error_msg": "expired"}')
        return response

    names = ["old-one"] + [f"new-{i:02d}" for i in range(8)]
    result, transport = await run(
        manifest_dict({"p1": names}, settings={"maxInFlightPerProject": 1}),
        cce,
        clock,
        hook=reject_creates,
    )
    assert len(transport.times("create")) == 1
    by_name = {c.name: c for c in result.report.clusters}
    assert by_name["old-one"].outcome is Outcome.EXISTING
    assert by_name["new-00"].outcome is Outcome.REJECTED
    assert {by_name[f"new-{i:02d}"].outcome for i in range(1, 8)} == {Outcome.NOT_STARTED}
    assert by_name["new-05"].reason == "not sent: the credentials were rejected"
    assert result.exit_code == 3


async def test_one_projects_rejected_credentials_do_not_stop_another_project() -> None:
    """Credentials differ per project: a 401 in one project stops only that project."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0)

    def reject_bad_project(request: Request, response: Response) -> Response:
        if request.kind == "create" and "/projects/bad/" in request.url:
            return Response(401, {}, b'{"error_code": "APIGW.0301", "error_msg": "expired"}')
        return response

    names = {"bad": [f"bad-{i:02d}" for i in range(3)], "good": [f"good-{i:02d}" for i in range(4)]}
    result, transport = await run(
        manifest_dict(names, settings={"maxInFlightPerProject": 1}),
        cce,
        clock,
        hook=reject_bad_project,
    )
    by_name = {c.name: c.outcome for c in result.report.clusters}
    assert [by_name[f"good-{i:02d}"] for i in range(4)] == [Outcome.CREATED] * 4
    assert by_name["bad-00"] is Outcome.REJECTED
    assert {by_name["bad-01"], by_name["bad-02"]} == {Outcome.NOT_STARTED}
    assert sum("/projects/bad/" in url for _, kind, url in transport.log if kind == "create") == 1
    assert result.exit_code == 1


async def test_conflict_without_a_listed_cluster_is_failed_not_rejected() -> None:
    """A 409 whose name is not in the re-list (an alias clash, say) fails with an explanation."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0)

    def conflict(request: Request, response: Response) -> Response:
        if request.kind == "create":
            cce.clusters.clear()
            cce.jobs.clear()
            return Response(409, {}, b'{"errorCode": "CCE.01409001", "errorMessage": "taken"}')
        return response

    result, _ = await run(manifest_dict({"p1": ["clashing-one"]}), cce, clock, hook=conflict)
    (cluster,) = result.report.clusters
    assert cluster.outcome is Outcome.FAILED
    assert cluster.reason is not None
    assert "alias" in cluster.reason
    assert cluster.last_error is not None
    assert cluster.last_error.error_code == "CCE.01409001"


async def test_right_token_is_accepted() -> None:
    """The same fake with the right token creates everything."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0, token="right-token")
    result, _ = await run(
        manifest_dict({"p1": ["one-cluster"]}), cce, clock, auth=TokenAuth("right-token")
    )
    assert outcomes(result) == {"one-cluster": Outcome.CREATED}


async def test_report_lists_every_cluster_once_in_manifest_order() -> None:
    """The report holds one entry per manifest cluster, in order, with its location."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=30.0, fail_rate=0.5)
    names = {"p1": ["aaaa-1", "bbbb-2", "cccc-3"], "p2": ["aaaa-1", "dddd-4"]}
    result, _ = await run(manifest_dict(names), cce, clock)
    listed = [(c.project, c.name, c.location) for c in result.report.clusters]
    assert listed == [
        ("p1", "aaaa-1", "projects[0].clusters[0]"),
        ("p1", "bbbb-2", "projects[0].clusters[1]"),
        ("p1", "cccc-3", "projects[0].clusters[2]"),
        ("p2", "aaaa-1", "projects[1].clusters[0]"),
        ("p2", "dddd-4", "projects[1].clusters[1]"),
    ]
    summary = result.report.summary
    assert summary.total == 5
    assert summary.created + summary.failed == 5


@pytest.mark.parametrize(
    ("outcomes_", "auth_rejected", "expected"),
    [
        ([Outcome.CREATED, Outcome.EXISTING], False, 0),
        ([Outcome.CREATED, Outcome.FAILED], False, 1),
        ([Outcome.NOT_STARTED], True, 3),
        ([Outcome.NOT_STARTED], False, 1),
        ([], False, 0),
    ],
)
def test_exit_code_for(outcomes_: list[Outcome], auth_rejected: bool, expected: int) -> None:
    """Exit codes follow the documented table."""
    plan = build_plan(manifest_dict({"p1": ["xxxx-1"]}))
    project = plan.projects[0]
    from batchcreate.record import ClusterRecord

    records = [
        dataclasses.replace(ClusterRecord(project=project, plan=project.clusters[0]), outcome=o)
        for o in outcomes_
    ]
    assert exit_code_for(records, auth_rejected=auth_rejected) == expected
