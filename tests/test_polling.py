"""The pure decisions of polling.py: what the completion model learns, when a project is
worth listing again, and when an overdue job is read."""

from __future__ import annotations

import pytest

from batchcreate.polling import (
    EARLIEST_SHARE,
    EXPECTED_ENDS,
    LAST_JOBS,
    MIN_SAMPLES,
    RATE_ENDS,
    RATE_INTERVALS,
    CompletionModel,
    job_check_age,
    next_list_delay,
)
from batchcreate.settings import PollSettings

SETTINGS = PollSettings(initial_delay=150.0, interval=20.0, max_interval=60.0, backoff=1.5)


def learned(durations: list[float], ended_at: list[float], running: int) -> CompletionModel:
    model = CompletionModel(SETTINGS)
    for duration, at in zip(durations, ended_at, strict=True):
        model.add(duration, at)
    model.running = running
    return model


def test_before_any_job_ended_none_is_expected_before_the_initial_delay() -> None:
    model = CompletionModel(SETTINGS)
    assert not model.learned()
    assert (model.earliest(), model.median(), model.hazard(0.0)) == (150.0, None, None)
    # Jobs 10 s and 40 s old: the next look is when the older one reaches 150 s.
    assert next_list_delay([10.0, 40.0], model, now=0.0) == 110.0
    # Never closer than one interval, even when the first is almost due.
    assert next_list_delay([145.0], model, now=0.0) == 20.0


def test_the_prior_schedule_grows_by_backoff_per_quiet_list_and_slower_for_many_jobs() -> None:
    model = CompletionModel(SETTINGS)
    gaps = [next_list_delay([200.0], model, now=0.0, quiet=q) for q in range(6)]
    assert gaps == [20.0, 20.0, 30.0, 45.0, 60.0, 60.0]
    # Four jobs that can have ended: a quiet list grows the gap by 1.5 ** (1/4) only.
    four = next_list_delay([200.0] * 4, model, now=0.0, quiet=3)
    assert four == pytest.approx(20.0 * 1.5 ** (2 / 4))


def test_the_earliest_end_is_learned_from_the_fastest_job() -> None:
    model = learned([300.0, 280.0, 400.0], [300.0, 300.0, 400.0], running=10)
    assert MIN_SAMPLES == 3
    assert model.learned()
    assert model.earliest() == pytest.approx(EARLIEST_SHARE * 280.0)
    assert model.median() == 300.0
    # A job accepted just now waits until it reaches the learned earliest age.
    assert next_list_delay([0.0], model, now=400.0) == pytest.approx(252.0)


def test_the_hazard_is_recent_ends_over_job_seconds_at_risk() -> None:
    window = RATE_INTERVALS * SETTINGS.interval  # 120 s
    ends = [1000.0 + 10 * i for i in range(RATE_ENDS)]  # 8 ends in the last 80 s
    model = learned([500.0] * RATE_ENDS, ends, running=100)
    now = ends[-1]
    expected = RATE_ENDS / ((100 + RATE_ENDS / 2) * window)
    assert model.hazard(now) == pytest.approx(expected)
    # Old ends beyond the window are dropped once RATE_ENDS newer ones exist.
    for i in range(RATE_ENDS):
        model.add(500.0, 2000.0 + i)
    assert model.hazard(2000.0 + RATE_ENDS) == pytest.approx(expected)


def test_a_project_is_listed_every_interval_while_ends_are_likely_and_less_when_not() -> None:
    ends = [1000.0 + 10 * i for i in range(RATE_ENDS)]
    model = learned([500.0] * RATE_ENDS, ends, running=100)
    now = ends[-1]
    hazard = model.hazard(now)
    assert hazard is not None
    # Many jobs able to end: one interval.
    assert next_list_delay([600.0] * 50, model, now=now) == 20.0
    # One job: the gap stretches so that EXPECTED_ENDS are expected within it.
    one = hazard * SETTINGS.interval
    assert one < EXPECTED_ENDS
    assert next_list_delay([600.0], model, now=now) == pytest.approx(
        min(60.0, 20.0 * EXPECTED_ENDS / one)
    )
    # ... but never beyond maxInterval.
    quiet = learned([500.0] * RATE_ENDS, [0.0] * RATE_ENDS, running=100)
    assert next_list_delay([600.0], quiet, now=10_000.0) == 60.0


def test_the_last_jobs_of_a_batch_are_looked_at_every_interval() -> None:
    """The tail is 5% of the jobs watched, at least one and at most LAST_JOBS."""
    model = learned([500.0] * RATE_ENDS, [0.0] * RATE_ENDS, running=0)
    for _ in range(1000):
        model.watch()
    assert model.last_jobs() == LAST_JOBS == 10
    model.running = LAST_JOBS + 1
    assert next_list_delay([600.0], model, now=10_000.0) == 60.0
    model.running = LAST_JOBS
    assert next_list_delay([600.0], model, now=10_000.0) == 20.0
    small = learned([500.0] * RATE_ENDS, [0.0] * RATE_ENDS, running=0)
    for _ in range(60):
        small.watch()
    assert small.last_jobs() == 3
    assert CompletionModel(SETTINGS).last_jobs() == 1


def test_overdue_jobs_are_read_late_and_ever_later() -> None:
    model = CompletionModel(SETTINGS)
    # Nothing learned: half the timeout, or four initial delays if that is later.
    assert [job_check_age(model, k, 1800.0) for k in range(3)] == [900.0, 1800.0, 3600.0]
    assert job_check_age(model, 0, 600.0) == 600.0
    model = learned([400.0, 480.0, 500.0], [400.0, 480.0, 500.0], running=5)
    assert job_check_age(model, 0, 1800.0) == 3 * 480.0
    assert job_check_age(model, 1, 1800.0) == 6 * 480.0


@pytest.mark.parametrize("learned_model", [False, True])
@pytest.mark.parametrize("quiet", [0, 1, 4])
@pytest.mark.parametrize(
    "ages", [[], [0.0], [145.0], [0.0, 500.0], [10.0] * 50, [float(a) for a in range(0, 600, 7)]]
)
def test_a_plan_is_never_sooner_than_one_interval(
    ages: list[float], quiet: int, learned_model: bool
) -> None:
    """The watch relies on it: a newcomer cannot bring forward a list due within one
    interval, so it does not replan (``ProjectWatch._may_hasten``)."""
    if learned_model:
        model = learned([300.0, 280.0, 400.0, 320.0], [300.0, 300.0, 400.0, 410.0], running=3)
    else:
        model = CompletionModel(SETTINGS)
    assert next_list_delay(ages, model, now=420.0, quiet=quiet) >= SETTINGS.interval
