"""Placeholder replaced by the real suite below."""

from batchcreate.durations import parse_duration


def test_parse_duration_minutes() -> None:
    """A minute suffix means sixty seconds."""
    assert parse_duration("30m") == 1800.0
