"""Clusters watched through their project's list, in virtual time: one list observes many
jobs, learned durations place the lists, and the job is read only when a list cannot tell."""

from __future__ import annotations

import asyncio

import pytest

from batchcreate import watch as watch_module
from batchcreate.app import RunResult
from batchcreate.clock import VirtualClock
from batchcreate.manifest import build_plan
from batchcreate.models import Cluster, ClusterStatus, ObjectMeta
from batchcreate.polling import CompletionModel
from batchcreate.record import ClusterRecord
from batchcreate.report import Outcome
from batchcreate.retry import Backoff
from batchcreate.simulator.fake_cce import Behaviour
from batchcreate.watch import ProjectWatch
from batchcreate.wire import Request, Response
from tests.conftest import manifest_dict
from tests.test_runner import RecordingTransport, fake, run

POLLS = {"initialDelay": "60s", "interval": "20s", "maxInterval": "60s", "backoff": 1.5}


def settings(**extra: object) -> dict[str, object]:
    return {"timeout": "30m", "rateLimit": 10, "poll": POLLS, **extra}


async def test_one_list_observes_every_job_of_a_project() -> None:
    """Thirty jobs of five minutes in one project: a handful of lists see them all end,
    with no job poll and no cluster read."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=300.0)
    names = [f"fleet-{i:02d}" for i in range(30)]
    result, transport = await run(
        manifest_dict({"p1": names}, settings=settings(maxInFlightPerProject=30)), cce, clock
    )
    assert {c.outcome for c in result.report.clusters} == {Outcome.CREATED}
    assert transport.times("job") == transport.times("cluster") == []
    first_accept = transport.times("create")[0]
    watching = [t - first_accept for t in transport.times("list")[1:]]
    # Nothing learned before they end: the classic schedule, whose gaps grow by
    # backoff ** (1/30) per quiet list with thirty jobs able to end (about every 20 s).
    expected = [60.0]
    while expected[-1] < 300.0:
        expected.append(expected[-1] + 20.0 * 1.5 ** ((len(expected) - 1) / 30))
    assert watching == [pytest.approx(t) for t in expected]
    assert len(watching) == 13
    assert max(c.accept_to_terminal_seconds or 0 for c in result.report.clusters) <= 300 + 21


async def run_one_project(
    names: list[str], *, job_duration: float, poll: dict[str, object]
) -> tuple[RunResult, RecordingTransport]:
    """``names`` in project p1, all in flight at once, behind a limit of one call a second."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=job_duration)
    settings = {
        "timeout": "30m",
        "rateLimit": 1,
        "maxInFlightPerProject": len(names),
        "poll": poll,
    }
    return await run(manifest_dict({"p1": names}, settings=settings), cce, clock)


async def test_clusters_accepted_meanwhile_do_not_put_off_the_planned_list() -> None:
    """Eight creates a second apart, jobs that may end within an interval: the watching list
    planned one interval after the first create is not put off by the seven that follow
    (a new plan is never sooner than an interval away), so it comes at 21 s, not at 28 s."""
    polls = {"initialDelay": "5s", "interval": "20s", "maxInterval": "60s", "backoff": 1.5}
    result, transport = await run_one_project(
        [f"trickle-{i}" for i in range(8)], job_duration=12.0, poll=polls
    )
    assert {c.outcome for c in result.report.clusters} == {Outcome.CREATED}
    creates = transport.times("create")
    assert creates == [pytest.approx(1.0 + i) for i in range(8)]
    assert transport.times("list")[1:] == [pytest.approx(creates[0] + 20.0)]


async def test_lists_wait_for_the_learned_earliest_end() -> None:
    """Once three jobs of 200 s have been seen to end, a job accepted later is not looked
    at before 90% of 200 s."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=200.0)
    names = [f"wave-{i:02d}" for i in range(6)]
    result, transport = await run(
        manifest_dict({"p1": names}, settings=settings(maxInFlightPerProject=3)), cce, clock
    )
    assert {c.outcome for c in result.report.clusters} == {Outcome.CREATED}
    second_wave = sorted(transport.times("create"))[3]
    after = [t for t in transport.times("list") if t > second_wave]
    assert after[0] - second_wave >= 0.9 * 200.0 - 1e-6
    # ... and the second wave is then seen within one interval of its end.
    assert max(c.accept_to_terminal_seconds or 0 for c in result.report.clusters[3:]) <= 220.0


async def test_a_failed_job_whose_cluster_never_settles_is_caught_by_reading_the_job() -> None:
    """The lists keep showing the cluster Creating after its job failed: the job is read
    when it is overdue (half the timeout, before anything is learned), and its failure
    ends the wait."""
    clock = VirtualClock()
    cce = fake(
        clock,
        job_duration=30.0,
        behaviours={
            "limbo-one": Behaviour(job_phase="Failed", cluster_phase="Creating", reason="no ECS")
        },
    )
    result, transport = await run(
        manifest_dict({"p1": ["limbo-one"]}, settings=settings()), cce, clock
    )
    (cluster,) = result.report.clusters
    assert (cluster.outcome, cluster.reason, cluster.job_phase) == (
        Outcome.FAILED,
        "no ECS",
        "Failed",
    )
    accepted = transport.times("create")[0]
    (read,) = transport.times("job")
    # Due at half the timeout; read once a list sent after that still saw it Creating.
    first_list_after = min(t for t in transport.times("list") if t >= accepted + 900.0)
    assert first_list_after < read <= first_list_after + 20.0


async def test_lists_refused_mid_watch_end_the_watch_with_the_error() -> None:
    """Permission withdrawn after the creates: every watched cluster fails, naming why,
    and nothing is polled in a loop."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=100.0)
    lists = 0

    def revoke(request: Request, response: Response) -> Response:
        nonlocal lists
        if request.kind != "list":
            return response
        lists += 1
        if lists == 1:
            return response
        return Response(403, {}, b'{"errorCode": "CCE.01403001", "errorMessage": "denied"}')

    names = ["held-01", "held-02"]
    result, transport = await run(
        manifest_dict({"p1": names}, settings=settings()), cce, clock, hook=revoke
    )
    for cluster in result.report.clusters:
        assert cluster.outcome is Outcome.FAILED
        assert cluster.reason is not None
        assert "stopped following the cluster" in cluster.reason
        assert cluster.last_error is not None
        assert cluster.last_error.http_status == 403
    assert len(transport.times("list")) == 2


async def test_creates_go_first_and_overdue_checks_wait_for_a_list() -> None:
    """A tight budget: every create is sent before any watch list, and no job is read as
    overdue while the lists are held back by the creates."""
    poll = {"initialDelay": "5s", "interval": "5s", "maxInterval": "10s", "backoff": 1.5}
    result, transport = await run_one_project(
        [f"tight-{i:02d}" for i in range(40)], job_duration=20.0, poll=poll
    )
    assert {c.outcome for c in result.report.clusters} == {Outcome.CREATED}
    creates = transport.times("create")
    watch_lists = transport.times("list")[1:]
    assert max(creates) < min(watch_lists)
    # The first job was 20 s past its check age (4 x 5 s) when the creates ended: no read.
    assert transport.times("job") == []


async def test_a_cluster_that_leaves_the_list_while_being_created_has_failed() -> None:
    """Deleted by someone else mid-creation: the next list no longer shows it."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=400.0)
    lists = 0

    def delete_after_two_looks(request: Request, response: Response) -> Response:
        nonlocal lists
        if request.kind == "list":
            lists += 1
            if lists == 3:  # the list before the create, then two watch lists saw it
                victim = cce.cluster_named("p1", "doomed-01")
                assert victim is not None
                del cce.clusters[("p1", victim.uid)]
        return response

    result, transport = await run(
        manifest_dict({"p1": ["doomed-01", "steady-01"]}, settings=settings()),
        cce,
        clock,
        hook=delete_after_two_looks,
    )
    by_name = {c.name: c for c in result.report.clusters}
    doomed = by_name["doomed-01"]
    assert doomed.outcome is Outcome.FAILED
    assert doomed.reason == "the cluster no longer exists: it left the project's list"
    assert doomed.cluster_phase == "Creating"
    # Known at the fourth list, the first that lacked it; the other cluster went on.
    assert doomed.terminal_at is not None
    assert by_name["steady-01"].outcome is Outcome.CREATED
    assert transport.times("job") == []


async def test_when_clusters_wait_for_a_slot_watching_goes_before_queued_creates() -> None:
    """Six creates queue behind 1 call/s while four more clusters wait for an in-flight
    slot: the list that sees the first jobs end (and frees their slots) is not held behind
    the queued creates, as it would be with slots to spare."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=2.0)
    poll = {"initialDelay": "1s", "interval": "1s", "maxInterval": "2s", "backoff": 1.5}
    names = [f"queue-{i:02d}" for i in range(10)]
    result, transport = await run(
        manifest_dict(
            {"p1": names},
            settings={"rateLimit": 1, "maxInFlight": 6, "maxInFlightPerProject": 10, "poll": poll},
        ),
        cce,
        clock,
    )
    assert {c.outcome for c in result.report.clusters} == {Outcome.CREATED}
    creates = transport.times("create")
    first_watch = transport.times("list")[1]
    assert first_watch < creates[5]  # ahead of the sixth queued create


async def test_a_bug_in_the_watch_fails_its_clusters_not_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unexpected error while watching one project: its clusters fail, naming it; the
    other project's clusters are created."""
    clock = VirtualClock()
    cce = fake(clock, job_duration=100.0)
    original = watch_module.ProjectWatch._observe

    def observe(self: watch_module.ProjectWatch, seen: float) -> None:
        if self.project.id == "p1" and self.lists > 1:
            raise KeyError("a bug")
        original(self, seen)

    monkeypatch.setattr(watch_module.ProjectWatch, "_observe", observe)
    result, _ = await run(
        manifest_dict({"p1": ["buggy-01"], "p2": ["sound-01"]}, settings=settings()),
        cce,
        clock,
    )
    by_name = {c.name: c for c in result.report.clusters}
    assert by_name["sound-01"].outcome is Outcome.CREATED
    buggy = by_name["buggy-01"]
    assert buggy.outcome is Outcome.FAILED
    assert buggy.reason == "stopped following the cluster: internal error: KeyError('a bug')"


async def test_a_newcomer_brings_a_stretched_list_forward_but_never_puts_it_off() -> None:
    """Quiet lists stretch the gap to maxInterval (a list due at 175 s); a cluster accepted at
    145 s wakes the watch, whose new plan (36.7 s from then: 181.7 s) would come later: the
    list still comes at 175 s."""
    clock = VirtualClock()
    poll = {"initialDelay": "5s", "interval": "20s", "maxInterval": "60s", "backoff": 1.5}
    plan = build_plan(manifest_dict({"p1": ["first-one", "late-one"]}, settings={"poll": poll}))
    project = plan.projects[0]
    first, late = (ClusterRecord(project=project, plan=c) for c in project.clusters)
    lists: list[float] = []

    class StillCreating:
        """The client: every list shows both clusters still being created."""

        async def list_clusters(self, *_: object, **__: object) -> list[Cluster]:
            lists.append(clock.monotonic())
            return [
                Cluster(metadata=ObjectMeta(name=n), status=ClusterStatus(phase="Creating"))
                for n in ("first-one", "late-one")
            ]

    watch = ProjectWatch(
        project,
        StillCreating(),
        clock,
        CompletionModel(plan.settings.poll),
        Backoff(),  # type: ignore[arg-type]
    )

    async def scenario() -> None:
        running = asyncio.ensure_future(watch.run())
        watch.watch(first, clock.monotonic(), timed=True)
        await clock.sleep(145.0)
        assert lists == [20.0, 40.0, 70.0, 115.0]  # gaps 20, 20, 30, 45, then 60
        watch.watch(late, clock.monotonic(), timed=True)
        await clock.sleep(40.0)
        watch.close()
        await running

    await clock.run(scenario())
    assert lists[4] == pytest.approx(175.0)
