"""UTC timestamps: the same text as ``datetime.isoformat``, each second formatted once."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import sys

import pytest

from batchcreate.utc import utc_text

EDGES = [
    -0.5,  # the second before the epoch: a second like any other, not "none yet"
    0.0,
    1.0,
    1_767_225_600.0,  # a midnight
    1_767_225_599.9999996,  # rounds up into the next day
    1_767_225_599.9995,  # 999.5 ms: cut, not rounded, to milliseconds
    1_000_000_000.000_000_4,
    2_000_000_000.123_456_7,
]


def _reference(epoch: float, digits: int) -> str:
    spec = {3: "milliseconds", 6: "microseconds"}[digits]
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


@pytest.mark.parametrize("digits", [3, 6])
def test_timestamps_read_as_datetime_writes_them(digits: int) -> None:
    rng = random.Random(7)
    # In and out of order, so that the cached second is both reused and replaced.
    epochs = [*EDGES, *(rng.uniform(0, 4e9) for _ in range(5000))]
    epochs += [1_767_225_600 + i / 997 for i in range(3000)]
    for epoch in epochs:
        assert utc_text(epoch, digits) == _reference(epoch, digits), epoch


def test_the_next_second_is_formatted_anew() -> None:
    assert utc_text(1_767_225_599.5) == "2025-12-31T23:59:59.500Z"
    assert utc_text(1_767_225_600.25) == "2026-01-01T00:00:00.250Z"
    assert utc_text(1_767_225_599.999_999_9, 6) == "2026-01-01T00:00:00.000000Z"


def test_only_milliseconds_or_microseconds() -> None:
    with pytest.raises(ValueError, match="digits must be 3 or 6"):
        utc_text(0.0, 0)


def test_the_second_before_the_epoch_in_a_fresh_process() -> None:
    """Nothing formatted yet is not mistaken for a second already formatted."""
    code = "from batchcreate.utc import utc_text; print(utc_text(-0.5))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1969-12-31T23:59:59.500Z"
