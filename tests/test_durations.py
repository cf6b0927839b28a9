"""Durations as users write them in manifests and flags: parsing and compact rendering."""

from __future__ import annotations

import math

import pytest

from batchcreate.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("150s", 150.0),
        ("0.5s", 0.5),
        (".5s", 0.5),
        ("30m", 1800.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("1d", 86400.0),
        ("1m30s", 90.0),
        ("  2m  ", 120.0),
        ("0s", 0.0),
    ],
)
def test_parses_durations_with_units(text: str, seconds: float) -> None:
    """Each unit (ms, s, m, h, d) and their combinations add up to the right seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (0, 0.0),
        (2.5, 2.5),
        ("90", 90.0),
        ("1.5", 1.5),
        (" 20 ", 20.0),
    ],
)
def test_bare_numbers_and_numeric_strings_are_seconds(value: object, seconds: float) -> None:
    """A number without a unit, or a string holding one, counts seconds."""
    result = parse_duration(value)
    assert result == seconds
    assert type(result) is float


@pytest.mark.parametrize(
    "value",
    ["abc", "5x", "s", "", "1hh", "30 minutes", "0x10", "h1"],
)
def test_rejects_text_that_is_no_duration(value: str) -> None:
    """Garbage is refused with examples of what a duration looks like and the bad value."""
    with pytest.raises(
        ValueError, match=r"expected a duration such as 150s, 0\.5s, 30m or 1h"
    ) as info:
        parse_duration(value)
    assert f"got {value!r}" in str(info.value)


@pytest.mark.parametrize("value", [True, False, None, [1], {"s": 1}])
def test_rejects_values_of_the_wrong_type(value: object) -> None:
    """Booleans (YAML's yes/no), nulls and collections are not durations, though bool is an int."""
    with pytest.raises(ValueError, match="expected a duration such as 150s, 30m or 1h") as info:
        parse_duration(value)
    assert str(info.value).endswith(f"got {value!r}")


@pytest.mark.parametrize("value", [-1, -0.5, "-5", "-5s"])
def test_rejects_negative_durations_saying_so(value: object) -> None:
    """A negative duration, with or without a unit, is refused as negative, not as garbage."""
    with pytest.raises(ValueError, match="cannot be negative") as info:
        parse_duration(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    "value",
    [math.inf, -math.inf, math.nan, "inf", "-inf", "nan", "Infinity", "1e400"],
)
def test_rejects_infinite_and_nan_durations(value: object) -> None:
    """Infinity and NaN, as floats or as strings, are refused as not finite."""
    with pytest.raises(ValueError, match="expected a finite duration") as info:
        parse_duration(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.25, "0.25s"),
        (0.5, "0.5s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (90, "90s"),
        (150, "150s"),
        (1800, "30m"),
        (3600, "1h"),
        (5400, "90m"),
        (7200, "2h"),
        (86400, "24h"),
    ],
)
def test_format_duration_uses_the_largest_whole_unit(seconds: float, text: str) -> None:
    """Whole hours render in h, whole minutes in m, anything else in seconds."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.0, 0.25, 1.0, 90.0, 150.0, 1800.0, 5400.0, 86400.0])
def test_format_duration_round_trips_through_parse(seconds: float) -> None:
    """What format_duration writes, parse_duration reads back to the same seconds."""
    assert parse_duration(format_duration(seconds)) == seconds
