"""Durations as users write them: ``150s``, ``0.5s``, ``30m``, ``1h``, ``1h30m``, or seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:(?:\d+(?:\.\d+)?|\.\d+)(?:ms|s|m|h|d))+")


def parse_duration(value: object) -> float:
    """Return seconds for a duration; raise ``ValueError`` with a teaching message."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 150s, 30m or 1h, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            if text.startswith("-") and _WHOLE.fullmatch(text[1:]):
                raise ValueError(f"a duration cannot be negative, got {value!r}") from None
            if not _WHOLE.fullmatch(text):
                raise ValueError(
                    f"expected a duration such as 150s, 0.5s, 30m or 1h, got {value!r}"
                ) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    else:
        raise ValueError(f"expected a duration such as 150s, 30m or 1h, got {value!r}")
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite duration, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds compactly, the inverse of ``parse_duration`` for round values."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
