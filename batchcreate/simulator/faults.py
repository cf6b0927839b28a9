"""Fault injection for the fake CCE: what can go wrong, how often, and who decides per call.

A fault is dosed as a *rate* (a fraction of the eligible calls or jobs, drawn from the
fake's one seeded ``random.Random``) or as a ``Count`` (exactly the first ``n`` eligible
calls or jobs, no draw). Per-call faults (``resets``, ``throttle``, ``errors``, ``slow``)
share one draw per call, so their rates are fractions of all CCE calls and must sum to at
most 1. ``lost_creates`` is a fraction of the creates that succeeded on the server;
``stuck`` of all new jobs; ``broken`` of the jobs that would otherwise succeed.

``parse_fault_spec`` reads the command-line form, ``format_fault_spec`` writes it back:

    throttle=0.05,errors=5%,resets=2x,slow=0.01,slow_seconds=3s,job_expiry=30s
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import enum
import math
import random
from dataclasses import dataclass
from typing import TypeAlias

from batchcreate.clock import Clock
from batchcreate.durations import format_duration, parse_duration

DEFAULT_RETRY_AFTER = 1.0
#: Past the client's default 30 s request timeout, so a slow answer is a timeout.
DEFAULT_SLOW_SECONDS = 35.0


@dataclass(frozen=True)
class Count:
    """Exactly the first ``n`` eligible calls (or jobs) get the fault; no random draw."""

    n: int

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise ValueError(f"a fault count must be a whole number ≥ 0, got {self.n!r}")

    def __str__(self) -> str:
        return f"{self.n}x"


#: A fault's dose: a fraction from 0 to 1, or a ``Count``.
Dose: TypeAlias = float | Count


class Fault(enum.Enum):
    """Every kind of fault the fake injects; the value is its ``FaultConfig`` field."""

    RESET = "resets"
    SERVER_RATE = "server_rate"
    THROTTLE = "throttle"
    ERROR = "errors"
    SLOW = "slow"
    LOST_CREATE = "lost_creates"
    STUCK = "stuck"
    BROKEN = "broken"
    JOB_EXPIRED = "job_expiry"


#: Per-call faults in the order they are decided, which is also their draw order.
CALL_FAULTS = (Fault.RESET, Fault.THROTTLE, Fault.ERROR, Fault.SLOW)
_DOSES = ("throttle", "errors", "resets", "slow", "lost_creates", "stuck", "broken")
_DURATIONS = ("retry_after", "slow_seconds", "job_expiry")


@dataclass(frozen=True)
class FaultConfig:
    """How often the fake misbehaves; the default misbehaves never."""

    #: Calls answered 429; every other one carries ``Retry-After: retry_after``.
    throttle: Dose = 0.0
    retry_after: float = DEFAULT_RETRY_AFTER
    #: Calls per second of a token bucket shared by all calls; past it, 429 ``APIGW.0308``.
    server_rate: float | None = None
    #: The bucket's size; ``None`` means one second's worth of ``server_rate``.
    server_burst: int | None = None
    #: Calls answered 500, 502 (an HTML page, as from a proxy) and 503, in turn.
    errors: Dose = 0.0
    #: Calls whose connection is reset before the server processes them.
    resets: Dose = 0.0
    #: Calls processed at once but answered only after ``slow_seconds``.
    slow: Dose = 0.0
    slow_seconds: float = DEFAULT_SLOW_SECONDS
    #: Successful creates whose answer is lost: the connection is reset after processing.
    lost_creates: Dose = 0.0
    #: Seconds after its end (or its start, for a job that never ends) a job record is gone.
    job_expiry: float | None = None
    #: Jobs that stay ``Running`` forever, their cluster ``Creating``.
    stuck: Dose = 0.0
    #: Jobs that succeed but leave their cluster ``Unavailable``.
    broken: Dose = 0.0

    def __post_init__(self) -> None:
        for name in _DOSES:
            dose = getattr(self, name)
            if isinstance(dose, Count):
                continue
            if isinstance(dose, bool) or not isinstance(dose, int | float) or not 0 <= dose <= 1:
                raise ValueError(f"{name} must be a fraction from 0 to 1 or a Count, got {dose!r}")
        shared = [f.value for f in CALL_FAULTS if not isinstance(getattr(self, f.value), Count)]
        total = sum(float(getattr(self, name)) for name in shared)
        if total > 1 + 1e-9:
            raise ValueError(
                f"{' + '.join(shared)} must not exceed 1 (each call gets at most one), "
                f"got {total:g}"
            )
        _require(self.retry_after >= 0, f"retry_after must be ≥ 0, got {self.retry_after!r}")
        _require(self.slow_seconds > 0, f"slow_seconds must be > 0, got {self.slow_seconds!r}")
        if self.server_rate is not None:
            _require(
                0 < self.server_rate < math.inf,
                f"server_rate must be > 0 and finite, got {self.server_rate!r}",
            )
        if self.server_burst is not None:
            _require(self.server_burst >= 1, f"server_burst must be ≥ 1, got {self.server_burst!r}")
            _require(self.server_rate is not None, "server_burst needs a server_rate")
        if self.job_expiry is not None:
            _require(self.job_expiry > 0, f"job_expiry must be > 0, got {self.job_expiry!r}")

    @property
    def burst(self) -> int:
        """The token bucket's size: ``server_burst``, or one second's worth of calls."""
        if self.server_burst is not None:
            return self.server_burst
        return max(1, math.ceil(self.server_rate or 1))

    def __str__(self) -> str:
        return format_fault_spec(self)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


# ---- the command-line form -------------------------------------------------------------


def parse_fault_spec(text: str) -> FaultConfig:
    """A ``FaultConfig`` from ``key=value`` pairs separated by commas; ``ValueError`` teaches.

    Doses are fractions (``0.05``), percentages (``5%``) or counts (``3x``); durations take
    units (``30s``, ``0.5s``, ``2m``); ``server_rate`` is calls per second, ``server_burst`` a
    whole number of calls.
    """
    known = [f.name for f in dataclasses.fields(FaultConfig)]
    values: dict[str, object] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip().lower().replace("-", "_"), raw.strip()
        if not sep or not key or not raw:
            raise ValueError(f"fault {item!r} is not key=value, e.g. throttle=0.05")
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown fault {key!r}{hint} (known: {', '.join(known)})")
        if key in values:
            raise ValueError(f"fault {key!r} is given twice")
        values[key] = _parse_value(key, raw)
    try:
        return FaultConfig(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"faults: {exc}") from None


def _parse_value(key: str, raw: str) -> object:
    try:
        if key in _DOSES:
            return _parse_dose(raw)
        if key in _DURATIONS:
            return parse_duration(raw)
        if key == "server_burst":
            return int(raw)
        return float(raw)
    except ValueError as exc:
        if key in _DOSES:
            detail = "expected a fraction from 0 to 1 (0.05), a percentage (5%) or a count (3x)"
        elif key in _DURATIONS:
            detail = str(exc)
        elif key == "server_burst":
            detail = "expected a whole number of calls, e.g. 10"
        else:
            detail = "expected calls per second, e.g. 50 or 0.5"
        raise ValueError(f"{key}={raw}: {detail}") from None


def _parse_dose(raw: str) -> Dose:
    if raw.endswith("x"):
        return Count(int(raw[:-1]))
    value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    if not 0 <= value <= 1:
        raise ValueError(raw)
    return value


def format_fault_spec(config: FaultConfig) -> str:
    """The command-line form of ``config``, naming only what differs from the defaults."""
    parts = []
    for spec in dataclasses.fields(FaultConfig):
        value = getattr(config, spec.name)
        if value == spec.default:
            continue
        if spec.name in _DURATIONS:
            text = format_duration(value)
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value)
        parts.append(f"{spec.name}={text}")
    return ",".join(parts)


# ---- deciding ----------------------------------------------------------------------------


class TokenBucket:
    """A bucket of ``burst`` tokens refilled at ``rate`` per second of ``clock``; starts full."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = self._clock.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class FaultInjector:
    """Decides, call by call and job by job, which fault (if any) strikes; counts them all.

    Draws only for faults dosed as rates above zero, so a fault-free fake consumes exactly
    the random numbers it did before fault injection existed.
    """

    def __init__(self, config: FaultConfig, rng: random.Random, clock: Clock) -> None:
        self.config = config
        self._rng = rng
        self._clock = clock
        self.injected: collections.Counter[Fault] = collections.Counter()
        self._bucket = (
            TokenBucket(config.server_rate, config.burst, clock)
            if config.server_rate is not None
            else None
        )
        #: The per-call faults dosed as rates, which share one draw per call.
        self._rated: list[tuple[Fault, float]] = []
        for fault in CALL_FAULTS:
            dose = self._dose(fault)
            if not isinstance(dose, Count) and dose > 0:
                self._rated.append((fault, dose))

    def before_call(self) -> Fault | None:
        """The fault for one CCE call, or None: reset, server limit, throttle, error, slow."""
        drawn = self._draw() if self._rated else None
        if self._strikes(Fault.RESET, drawn):
            return Fault.RESET
        if self._bucket is not None and not self._bucket.take():
            self.injected[Fault.SERVER_RATE] += 1
            return Fault.SERVER_RATE
        for fault in (Fault.THROTTLE, Fault.ERROR, Fault.SLOW):
            if self._strikes(fault, drawn):
                return fault
        return None

    def lose_create(self) -> bool:
        """Whether a create that succeeded on the server loses its answer."""
        return self._strikes_alone(Fault.LOST_CREATE)

    def job_stuck(self) -> bool:
        """Whether a new job never finishes."""
        return self._strikes_alone(Fault.STUCK)

    def job_broken(self) -> bool:
        """Whether a job that would succeed leaves its cluster ``Unavailable``."""
        return self._strikes_alone(Fault.BROKEN)

    def job_expired(self, started: float, duration: float) -> bool:
        """Whether a job record is gone: ``job_expiry`` seconds after the job's end, or after
        its start when it never ends."""
        expiry = self.config.job_expiry
        if expiry is None:
            return False
        since = started + duration if math.isfinite(duration) else started
        return self._clock.monotonic() >= since + expiry

    def _dose(self, fault: Fault) -> Dose:
        dose: Dose = getattr(self.config, fault.value)
        return dose

    def _draw(self) -> Fault | None:
        """The rate-dosed per-call fault one uniform draw falls on, if any."""
        point, edge = self._rng.random(), 0.0
        for fault, rate in self._rated:
            edge += rate
            if point < edge:
                return fault
        return None

    def _strikes(self, fault: Fault, drawn: Fault | None) -> bool:
        dose = self._dose(fault)
        hit = self.injected[fault] < dose.n if isinstance(dose, Count) else drawn is fault
        if hit:
            self.injected[fault] += 1
        return hit

    def _strikes_alone(self, fault: Fault) -> bool:
        """For faults with a draw of their own (not shared with the other per-call faults)."""
        dose = self._dose(fault)
        if isinstance(dose, Count):
            hit = self.injected[fault] < dose.n
        else:
            hit = dose > 0 and self._rng.random() < dose
        if hit:
            self.injected[fault] += 1
        return hit
